//! What history to pull (the `targets:` config) and the PromQL each target runs.
//!
//! The queries use only what kube-prometheus-stack scrapes by default: cAdvisor through
//! the kubelet (with its `node` label) and kube-state-metrics. No recording rules.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One source of forecast history; a target may yield many series (one per workload,
/// pool or returned label set).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    Workload(WorkloadTarget),
    NodePool(NodePoolTarget),
    Cluster(ClusterTarget),
    Query(QueryTarget),
}

/// Usage or running pods per workload: Deployments (through their ReplicaSets),
/// StatefulSets and DaemonSets. One series per (namespace, kind, workload).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadTarget {
    /// Replaces `workload` at the start of the series ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub resource: WorkloadResource,
    /// Namespace regex (PromQL `=~`, fully anchored); all namespaces when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Workload name regex (PromQL `=~`); all workloads when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
}

/// Pod usage summed per node pool, pools being the values of a node label.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodePoolTarget {
    /// Replaces `node-pool` at the start of the series ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Kubernetes node label naming the pool, e.g. `karpenter.sh/nodepool`.
    #[serde(default = "default_pool_label")]
    pub label: String,
    pub resource: Resource,
}

/// Pod usage summed over the whole cluster.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterTarget {
    /// Replaces `cluster` at the start of the series id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub resource: Resource,
}

/// Raw PromQL; every returned series becomes one history series named by its labels.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueryTarget {
    /// Replaces `query` at the start of the series ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resource {
    Cpu,
    Memory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadResource {
    Cpu,
    Memory,
    /// Pods with a running container.
    Replicas,
}

/// What a history value measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    Cores,
    Bytes,
    Replicas,
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cores => "cores",
            Self::Bytes => "bytes",
            Self::Replicas => "replicas",
        })
    }
}

/// The label every managed node pool setup has: one pool per instance type.
fn default_pool_label() -> String {
    "node.kubernetes.io/instance-type".to_string()
}

impl Resource {
    fn unit(self) -> Unit {
        match self {
            Self::Cpu => Unit::Cores,
            Self::Memory => Unit::Bytes,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
        })
    }
}

impl fmt::Display for WorkloadResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => Resource::Cpu.fmt(f),
            Self::Memory => Resource::Memory.fmt(f),
            Self::Replicas => f.write_str("replicas"),
        }
    }
}

/// One history series as a target names it.
pub(crate) struct SeriesName {
    pub id: String,
    pub labels: BTreeMap<String, String>,
}

impl Target {
    /// How logs and errors refer to this target: its name, else kind and resource.
    pub fn describe(&self) -> String {
        let name = match self {
            Self::Workload(t) => &t.name,
            Self::NodePool(t) => &t.name,
            Self::Cluster(t) => &t.name,
            Self::Query(t) => &t.name,
        };
        match (name, self) {
            (Some(name), _) => name.clone(),
            (None, Self::Workload(t)) => format!("workload/{}", t.resource),
            (None, Self::NodePool(t)) => format!("node-pool/{}/{}", t.label, t.resource),
            (None, Self::Cluster(t)) => format!("cluster/{}", t.resource),
            (None, Self::Query(t)) => format!("query `{}`", t.query),
        }
    }

    pub fn unit(&self) -> Option<Unit> {
        match self {
            Self::Workload(t) => Some(match t.resource {
                WorkloadResource::Cpu => Unit::Cores,
                WorkloadResource::Memory => Unit::Bytes,
                WorkloadResource::Replicas => Unit::Replicas,
            }),
            Self::NodePool(t) => Some(t.resource.unit()),
            Self::Cluster(t) => Some(t.resource.unit()),
            Self::Query(t) => t.unit,
        }
    }

    /// The range query; CPU is a `rate()` over `rate_window`.
    pub(crate) fn promql(&self, rate_window: Duration) -> String {
        match self {
            Self::Workload(t) => workload_promql(t, rate_window),
            Self::NodePool(t) => format!(
                "sum by (pool) ({} * on (node) group_left (pool) {})",
                format_args!("sum by (node) ({})", usage(t.resource, &[], rate_window)),
                node_pools(&t.label),
            ),
            Self::Cluster(t) => format!("sum({})", usage(t.resource, &[], rate_window)),
            Self::Query(t) => t.query.clone(),
        }
    }

    /// The id and labels of the series the query returned with `labels`.
    pub(crate) fn name_series(&self, mut labels: BTreeMap<String, String>) -> SeriesName {
        let mut take = |key: &str| labels.remove(key).unwrap_or_default();
        match self {
            Self::Workload(t) => {
                let (namespace, kind, workload) =
                    (take("namespace"), take("kind"), take("workload"));
                SeriesName {
                    id: format!(
                        "{}/{namespace}/{kind}/{workload}/{}",
                        prefix(&t.name, "workload"),
                        t.resource
                    ),
                    labels: BTreeMap::from([
                        ("namespace".to_string(), namespace),
                        ("kind".to_string(), kind),
                        ("workload".to_string(), workload),
                    ]),
                }
            }
            Self::NodePool(t) => {
                let pool = take("pool");
                SeriesName {
                    id: format!(
                        "{}/{}={pool}/{}",
                        prefix(&t.name, "node-pool"),
                        t.label,
                        t.resource
                    ),
                    labels: BTreeMap::from([(t.label.clone(), pool)]),
                }
            }
            Self::Cluster(t) => SeriesName {
                id: format!("{}/{}", prefix(&t.name, "cluster"), t.resource),
                labels: BTreeMap::new(),
            },
            Self::Query(t) => SeriesName {
                id: format!("{}/{}", prefix(&t.name, "query"), format_labels(&labels)),
                labels,
            },
        }
    }
}

fn prefix<'a>(name: &'a Option<String>, kind: &'a str) -> &'a str {
    name.as_deref().unwrap_or(kind)
}

/// `{a="1",b="2"}`, as Prometheus prints a label set.
fn format_labels(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

fn workload_promql(t: &WorkloadTarget, rate_window: Duration) -> String {
    let namespace = matcher("namespace", t.namespace.as_deref());
    let per_pod = match t.resource {
        WorkloadResource::Cpu => Resource::Cpu,
        WorkloadResource::Memory => Resource::Memory,
        WorkloadResource::Replicas => {
            let running = selector("kube_pod_container_status_running", &namespace);
            return format!(
                "count by (namespace, kind, workload) (max by (namespace, pod) ({running} == 1) \
                 * on (namespace, pod) group_left (kind, workload) {})",
                pod_workloads(&namespace, t.workload.as_deref())
            );
        }
    };
    format!(
        "sum by (namespace, kind, workload) (sum by (namespace, pod) ({}) \
         * on (namespace, pod) group_left (kind, workload) {})",
        usage(per_pod, &namespace, rate_window),
        pod_workloads(&namespace, t.workload.as_deref())
    )
}

/// Each pod's controlling workload as labels `kind` and `workload` (value 1): a
/// Deployment through `kube_pod_owner` → ReplicaSet → `kube_replicaset_owner`, or a
/// StatefulSet / DaemonSet directly. `max by` drops kube-state-metrics' own target
/// labels and duplicates from HA kube-state-metrics.
fn pod_workloads(namespace: &[String], workload: Option<&str>) -> String {
    let with = |extra: &[&str]| -> Vec<String> {
        let mut matchers: Vec<String> = extra.iter().map(|m| m.to_string()).collect();
        matchers.extend(namespace.iter().cloned());
        matchers
    };
    let name = matcher("owner_name", workload);
    let pod_rs = selector(
        "kube_pod_owner",
        &with(&[
            r#"owner_kind="ReplicaSet""#,
            r#"owner_is_controller="true""#,
        ]),
    );
    let mut rs_deployment = with(&[r#"owner_kind="Deployment""#]);
    rs_deployment.extend(name.iter().cloned());
    let mut direct = with(&[
        r#"owner_kind=~"StatefulSet|DaemonSet""#,
        r#"owner_is_controller="true""#,
    ]);
    direct.extend(name);
    format!(
        "(max by (namespace, pod, kind, workload) (label_replace(label_replace(\
         max by (namespace, pod, replicaset) (label_replace({pod_rs}, \"replicaset\", \"$1\", \"owner_name\", \"(.*)\")) \
         * on (namespace, replicaset) group_left (owner_name) \
         max by (namespace, replicaset, owner_name) ({}), \
         \"workload\", \"$1\", \"owner_name\", \"(.*)\"), \"kind\", \"Deployment\", \"owner_name\", \".*\")) \
         or max by (namespace, pod, kind, workload) (label_replace(label_replace({}, \
         \"workload\", \"$1\", \"owner_name\", \"(.*)\"), \"kind\", \"$1\", \"owner_kind\", \"(.*)\")))",
        selector("kube_replicaset_owner", &rs_deployment),
        selector("kube_pod_owner", &direct),
    )
}

/// Each node's pool (label `pool`, value 1) from `kube_node_labels`; nodes without the
/// label are left out.
pub(crate) fn node_pools(label: &str) -> String {
    let sanitized = sanitized_label(label);
    format!(
        "max by (node, pool) (label_replace(kube_node_labels{{{sanitized}!=\"\"}}, \"pool\", \"$1\", \"{sanitized}\", \"(.*)\"))"
    )
}

/// The label name kube-state-metrics gives node label `label` on `kube_node_labels`.
pub(crate) fn sanitized_label(label: &str) -> String {
    let name: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("label_{name}")
}

/// Per-container usage from cAdvisor. `container!=""` drops the pod-level cgroup
/// series (which would count every pod twice) and `image!=""` the pause containers.
fn usage(resource: Resource, matchers: &[String], rate_window: Duration) -> String {
    let mut all = vec![r#"container!="""#.to_string(), r#"image!="""#.to_string()];
    all.extend(matchers.iter().cloned());
    match resource {
        Resource::Cpu => format!(
            "rate({}[{}])",
            selector("container_cpu_usage_seconds_total", &all),
            promql_duration(rate_window)
        ),
        Resource::Memory => selector("container_memory_working_set_bytes", &all),
    }
}

fn selector(metric: &str, matchers: &[String]) -> String {
    format!("{metric}{{{}}}", matchers.join(","))
}

/// `label=~"regex"`, or nothing when there is no regex.
fn matcher(label: &str, regex: Option<&str>) -> Vec<String> {
    regex
        .map(|r| format!("{label}=~{}", quote(r)))
        .into_iter()
        .collect()
}

/// A PromQL double-quoted string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A range-selector duration: whole seconds when possible, else milliseconds.
fn promql_duration(d: Duration) -> String {
    let ms = d.as_millis().max(1);
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_deserialize_with_defaults_and_refuse_unknown_fields() {
        let json = r#"[
            {"kind": "workload", "resource": "replicas", "namespace": "shop"},
            {"kind": "node-pool", "resource": "cpu"},
            {"kind": "cluster", "name": "all", "resource": "memory"},
            {"kind": "query", "query": "up", "unit": "cores"}
        ]"#;
        let targets: Vec<Target> = serde_json::from_str(json).unwrap();
        assert_eq!(
            targets[1],
            Target::NodePool(NodePoolTarget {
                name: None,
                label: "node.kubernetes.io/instance-type".to_string(),
                resource: Resource::Cpu,
            })
        );
        assert_eq!(targets[2].describe(), "all");
        assert_eq!(targets[3].unit(), Some(Unit::Cores));
        let typo = r#"{"kind": "cluster", "resource": "cpu", "namepsace": "x"}"#;
        let err = serde_json::from_str::<Target>(typo).unwrap_err();
        assert!(err.to_string().contains("namepsace"), "{err}");
        let bad = r#"{"kind": "node-pool", "resource": "replicas"}"#;
        assert!(serde_json::from_str::<Target>(bad).is_err());
    }

    #[test]
    fn regexes_are_quoted_into_promql() {
        let target = Target::Workload(WorkloadTarget {
            name: None,
            resource: WorkloadResource::Memory,
            namespace: Some(r#"a"b\c"#.to_string()),
            workload: Some("web|api".to_string()),
        });
        let promql = target.promql(Duration::from_secs(300));
        assert!(promql.contains(r#"namespace=~"a\"b\\c""#), "{promql}");
        assert!(promql.contains(r#"owner_name=~"web|api""#), "{promql}");
        assert!(promql.contains(r#"container!="""#), "{promql}");
    }

    #[test]
    fn series_ids_are_stable_paths() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let pool = Target::NodePool(NodePoolTarget {
            name: None,
            label: "karpenter.sh/nodepool".to_string(),
            resource: Resource::Memory,
        });
        let named = pool.name_series(labels(&[("pool", "general")]));
        assert_eq!(named.id, "node-pool/karpenter.sh/nodepool=general/memory");
        assert_eq!(
            named.labels,
            labels(&[("karpenter.sh/nodepool", "general")])
        );
        let query = Target::Query(QueryTarget {
            name: Some("rps".to_string()),
            query: "x".to_string(),
            unit: None,
        });
        let named = query.name_series(labels(&[("ingress", "a\"b"), ("ns", "shop")]));
        assert_eq!(named.id, r#"rps/{ingress="a\"b",ns="shop"}"#);
        assert_eq!(
            sanitized_label("karpenter.sh/nodepool"),
            "label_karpenter_sh_nodepool"
        );
        assert_eq!(promql_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(promql_duration(Duration::from_secs(600)), "600s");
    }
}
