//! Slim copies of the objects the descheduler lists: only the fields the snapshot and the
//! planner read. A Pod as the API server sends it decodes to tens of kilobytes as a full
//! k8s-openapi object (managed fields, probes, environment, container statuses), gigabytes at
//! 150,000 pods; lists decode straight into these instead, so the full objects never exist,
//! and each page of pods is reduced further to a [`PodState`](crate::model::PodState).
//!
//! Fields keep their API names and shapes (`spec.nodeName`, `status.qosClass`, ...), so the
//! JSON of a full object decodes into its slim copy, and what is not kept is skipped while
//! decoding.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeSelector, Pod, ResourceRequirements, Taint, Toleration,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use tidal_core::resources::ResourceList;

use crate::model::KeptPod;

/// An object of kind `K` with only `metadata` (as [`kept_metadata`] keeps it), `spec` as `S`
/// and `status` as `T`. Lists as `K` does: same group, version and resource.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Slim<K, S, T> {
    #[serde(default, deserialize_with = "kept_metadata")]
    pub metadata: ObjectMeta,
    pub spec: Option<S>,
    pub status: Option<T>,
    #[serde(skip)]
    kind: PhantomData<fn() -> K>,
}

impl<K, S, T> Slim<K, S, T> {
    fn new(metadata: ObjectMeta, spec: Option<S>, status: Option<T>) -> Self {
        Self {
            metadata,
            spec,
            status,
            kind: PhantomData,
        }
    }
}

impl<K, S, T> kube::Resource for Slim<K, S, T>
where
    K: kube::Resource<DynamicType = ()>,
{
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }

    fn api_version(dt: &()) -> Cow<'_, str> {
        K::api_version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// `metadata` without what nothing here reads; `managedFields` alone is often larger than the
/// rest of a pod.
fn kept_metadata<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Kept {
        name: Option<String>,
        namespace: Option<String>,
        uid: Option<String>,
        labels: Option<BTreeMap<String, String>>,
        annotations: Option<BTreeMap<String, String>>,
        owner_references: Option<Vec<OwnerReference>>,
        creation_timestamp: Option<Time>,
    }
    let Some(kept) = Option::<Kept>::deserialize(deserializer)? else {
        return Ok(ObjectMeta::default());
    };
    Ok(ObjectMeta {
        name: kept.name,
        namespace: kept.namespace,
        uid: kept.uid,
        labels: kept.labels,
        annotations: kept.annotations,
        owner_references: kept.owner_references,
        creation_timestamp: kept.creation_timestamp,
        ..ObjectMeta::default()
    })
}

/// What the snapshot and the planner read of a Pod: its node, priority, requests and
/// QoS, scheduling constraints and local volumes.
pub type SlimPod = Slim<Pod, SlimPodSpec, SlimPodStatus>;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimPodSpec {
    pub node_name: Option<String>,
    pub priority: Option<i32>,
    #[serde(default)]
    pub containers: Vec<SlimContainer>,
    pub init_containers: Option<Vec<SlimContainer>>,
    /// Pod-level requests and limits.
    pub resources: Option<ResourceRequirements>,
    pub overhead: Option<ResourceList>,
    pub tolerations: Option<Vec<Toleration>>,
    pub node_selector: Option<BTreeMap<String, String>>,
    pub affinity: Option<SlimAffinity>,
    pub volumes: Option<Vec<SlimVolume>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimContainer {
    pub resources: Option<ResourceRequirements>,
    /// `Always` on an init container makes it a sidecar.
    pub restart_policy: Option<String>,
}

/// Only the node affinity the scheduler requires: preferences only score.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimAffinity {
    pub node_affinity: Option<SlimNodeAffinity>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimNodeAffinity {
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelector>,
}

/// A volume's name and whether its data lives on the node; other sources are not kept.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimVolume {
    pub name: String,
    pub empty_dir: Option<IgnoredAny>,
    pub host_path: Option<IgnoredAny>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimPodStatus {
    pub start_time: Option<Time>,
    pub qos_class: Option<String>,
}

tidal_core::impl_pod_resource_fields!(SlimPod);

impl From<SlimPod> for KeptPod {
    fn from(pod: SlimPod) -> Self {
        let meta = pod.metadata;
        let spec = pod.spec.unwrap_or_default();
        let affinity = spec.affinity.and_then(|a| a.node_affinity);
        let local_volume = spec
            .volumes
            .into_iter()
            .flatten()
            .filter_map(|v| (v.empty_dir.is_some() || v.host_path.is_some()).then_some(v.name));
        Self {
            labels: meta.labels.unwrap_or_default().into(),
            annotations: meta.annotations.unwrap_or_default().into(),
            tolerations: spec.tolerations.unwrap_or_default(),
            node_selector: spec.node_selector.unwrap_or_default(),
            required_affinity: affinity
                .and_then(|a| a.required_during_scheduling_ignored_during_execution),
            local_volume: local_volume.min(),
        }
    }
}

impl From<&Pod> for SlimPod {
    /// The slim copy of a pod built in memory (the simulator's), as a list would decode it.
    fn from(pod: &Pod) -> Self {
        let container =
            |resources: &Option<ResourceRequirements>, restart: &Option<String>| SlimContainer {
                resources: resources.clone(),
                restart_policy: restart.clone(),
            };
        let spec = pod.spec.as_ref().map(|s| SlimPodSpec {
            node_name: s.node_name.clone(),
            priority: s.priority,
            containers: s
                .containers
                .iter()
                .map(|c| container(&c.resources, &c.restart_policy))
                .collect(),
            init_containers: s.init_containers.as_ref().map(|init| {
                init.iter()
                    .map(|c| container(&c.resources, &c.restart_policy))
                    .collect()
            }),
            resources: s.resources.clone(),
            overhead: s.overhead.clone(),
            tolerations: s.tolerations.clone(),
            node_selector: s.node_selector.clone(),
            affinity: s.affinity.as_ref().map(|a| SlimAffinity {
                node_affinity: a.node_affinity.as_ref().map(|n| SlimNodeAffinity {
                    required_during_scheduling_ignored_during_execution: n
                        .required_during_scheduling_ignored_during_execution
                        .clone(),
                }),
            }),
            volumes: s.volumes.as_ref().map(|volumes| {
                volumes
                    .iter()
                    .map(|v| SlimVolume {
                        name: v.name.clone(),
                        empty_dir: v.empty_dir.as_ref().map(|_| IgnoredAny),
                        host_path: v.host_path.as_ref().map(|_| IgnoredAny),
                    })
                    .collect()
            }),
        });
        let status = pod.status.as_ref().map(|s| SlimPodStatus {
            start_time: s.start_time.clone(),
            qos_class: s.qos_class.clone(),
        });
        Self::new(kept(&pod.metadata), spec, status)
    }
}

/// What the snapshot and the planner read of a Node: its identity, size, readiness and
/// what keeps pods off it.
pub type SlimNode = Slim<Node, SlimNodeSpec, SlimNodeStatus>;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimNodeSpec {
    pub unschedulable: Option<bool>,
    pub taints: Option<Vec<Taint>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimNodeStatus {
    pub allocatable: Option<ResourceList>,
    pub capacity: Option<ResourceList>,
    pub addresses: Option<Vec<NodeAddress>>,
    pub conditions: Option<Vec<NodeCondition>>,
}

impl From<&Node> for SlimNode {
    /// The slim copy of a node built in memory (the simulator's), as a list would decode it.
    fn from(node: &Node) -> Self {
        let spec = node.spec.as_ref().map(|s| SlimNodeSpec {
            unschedulable: s.unschedulable,
            taints: s.taints.clone(),
        });
        let status = node.status.as_ref().map(|s| SlimNodeStatus {
            allocatable: s.allocatable.clone(),
            capacity: s.capacity.clone(),
            addresses: s.addresses.clone(),
            conditions: s.conditions.clone(),
        });
        Self::new(kept(&node.metadata), spec, status)
    }
}

/// What the owner index reads of a ReplicaSet, Deployment or StatefulSet: its owners (in
/// `metadata`) and replica counts, not the pod template.
pub type SlimReplicaSet = Slim<ReplicaSet, SlimReplicasSpec, SlimReplicasStatus>;
pub type SlimDeployment = Slim<Deployment, SlimReplicasSpec, SlimReplicasStatus>;
pub type SlimStatefulSet = Slim<StatefulSet, SlimReplicasSpec, SlimReplicasStatus>;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimReplicasSpec {
    pub replicas: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimReplicasStatus {
    pub ready_replicas: Option<i32>,
}

/// What the owner index reads of a Job: how many pods it runs at once, and how many are up.
pub type SlimJob = Slim<Job, SlimJobSpec, SlimJobStatus>;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimJobSpec {
    pub parallelism: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimJobStatus {
    pub ready: Option<i32>,
    pub active: Option<i32>,
}

/// What the planner reads of a PodDisruptionBudget: whom it covers and what it allows now.
pub type SlimBudget = Slim<PodDisruptionBudget, SlimBudgetSpec, SlimBudgetStatus>;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimBudgetSpec {
    pub selector: Option<LabelSelector>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimBudgetStatus {
    #[serde(default)]
    pub disruptions_allowed: i32,
}

/// The object without labels and annotations, for kinds whose labels and annotations nothing
/// reads: a Deployment's annotations often hold its whole last-applied manifest.
pub fn stripped<K, S, T>(mut object: Slim<K, S, T>) -> Option<Slim<K, S, T>> {
    object.metadata.labels = None;
    object.metadata.annotations = None;
    Some(object)
}

/// The metadata fields [`kept_metadata`] keeps.
fn kept(meta: &ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        labels: meta.labels.clone(),
        annotations: meta.annotations.clone(),
        owner_references: meta.owner_references.clone(),
        creation_timestamp: meta.creation_timestamp.clone(),
        ..ObjectMeta::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use tidal_core::resources::{allocatable_from, node_allocatable, pod_limits, pod_requests};

    fn decode<T: serde::de::DeserializeOwned>(value: &Value) -> T {
        serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("test object should decode: {e}"))
    }

    fn pod() -> Value {
        let resources = |cpu: &str, memory: &str| json!({"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}});
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1", "resourceVersion": "7",
                "labels": {"app": "web"}, "annotations": {"tidal.io/no-evict": "true"},
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d9c7",
                    "uid": "u-rs", "controller": true}],
                "managedFields": [{"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:phase": {}}}}]},
            "spec": {
                "nodeName": "node-a", "priority": 100, "serviceAccountName": "default",
                "initContainers": [
                    {"name": "proxy", "image": "envoy", "restartPolicy": "Always",
                     "resources": resources("100m", "64Mi")},
                    {"name": "migrate", "image": "app", "resources": resources("2", "128Mi")},
                ],
                "containers": [{"name": "app", "image": "app", "resources": resources("500m", "1Gi"),
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}}],
                "overhead": {"cpu": "50m"},
                "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                "nodeSelector": {"disk": "ssd"},
                "affinity": {"nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]},
                    "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {}}]},
                    "podAntiAffinity": {}},
                "volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "logs", "hostPath": {"path": "/var/log"}},
                    {"name": "config", "configMap": {"name": "web"}}, {"name": "none", "emptyDir": null}],
            },
            "status": {"phase": "Running", "qosClass": "Burstable", "startTime": "2026-01-01T00:01:00Z",
                "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null}]},
        })
    }

    #[test]
    fn a_listed_pod_keeps_what_the_planner_reads() {
        let (full, slim): (Pod, SlimPod) = (decode(&pod()), decode(&pod()));
        assert_eq!(pod_requests(&slim), pod_requests(&full));
        assert_eq!(pod_limits(&slim), pod_limits(&full));
        assert_eq!(
            SlimPod::from(&full),
            slim,
            "a copy equals what a list decodes"
        );
        assert_eq!(slim.metadata.managed_fields, None);
        assert_eq!(slim.metadata.resource_version, None);
        let kept = KeptPod::from(slim);
        assert_eq!(
            kept.local_volume.as_deref(),
            Some("logs"),
            "the first by name"
        );
        assert_eq!(kept.tolerations.len(), 1);
        assert_eq!(
            kept.node_selector.get("disk").map(String::as_str),
            Some("ssd")
        );
        assert!(kept.required_affinity.is_some());
        assert_eq!(
            kept.annotations
                .get("tidal.io/no-evict")
                .map(String::as_str),
            Some("true")
        );
    }

    #[test]
    fn a_listed_node_keeps_what_the_planner_reads() {
        let node = json!({
            "metadata": {"name": "node-a", "labels": {"zone": "a"},
                "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]},
            "spec": {"unschedulable": true, "podCIDR": "10.244.0.0/24",
                "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "3920m"}, "capacity": {"cpu": "4", "memory": "16Gi"},
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "images": [{"names": ["app:1"], "sizeBytes": 1000}]},
        });
        let (full, slim): (Node, SlimNode) = (decode(&node), decode(&node));
        assert_eq!(
            SlimNode::from(&full),
            slim,
            "a copy equals what a list decodes"
        );
        assert_eq!(slim.metadata.managed_fields, None);
        let status = slim.status.as_ref();
        let allocatable = allocatable_from(
            status.and_then(|s| s.allocatable.as_ref()),
            status.and_then(|s| s.capacity.as_ref()),
        );
        assert_eq!(allocatable, node_allocatable(&full));
    }

    #[test]
    fn listed_workloads_and_budgets_keep_their_counts() {
        let deployment: SlimDeployment = decode(&json!({
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "app", "image": "app"}]}}},
            "status": {"readyReplicas": 2, "replicas": 3},
        }));
        assert_eq!(deployment.spec.as_ref().and_then(|s| s.replicas), Some(3));
        assert_eq!(
            deployment.status.as_ref().and_then(|s| s.ready_replicas),
            Some(2)
        );
        let stripped = stripped(deployment).map(|d| d.metadata);
        assert_eq!(
            stripped.map(|m| (m.name, m.labels, m.annotations)),
            Some((Some("web".to_string()), None, None))
        );
        let job: SlimJob = decode(&json!({"spec": {"parallelism": 4}, "status": {"active": 2}}));
        assert_eq!(job.spec.and_then(|s| s.parallelism), Some(4));
        assert_eq!(
            job.status.map(|s| (s.ready, s.active)),
            Some((None, Some(2)))
        );
        let budget: SlimBudget = decode(&json!({
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3},
        }));
        assert!(budget.spec.and_then(|s| s.selector).is_some());
        assert_eq!(budget.status.map(|s| s.disruptions_allowed), Some(1));
    }
}
