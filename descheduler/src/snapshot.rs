//! Building a [`ClusterSnapshot`]: the Kubernetes objects and Prometheus figures of one
//! run, joined into the plain data the planner reads. Listing is I/O (each page of pods is
//! reduced as it arrives, by [`listed_pod`]); reducing and joining ([`assemble`]) are pure,
//! so owner resolution and identity mapping are tested without a cluster.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::ListParams;
use kube::{Api, Resource};
use tidal_core::load::LoadSnapshot;
use tidal_core::node_identity::NodeInfo;
use tidal_core::resources::{PodResourceFields, Resources, pod_requests};
use tidal_core::usage::{PodUsage, SustainedLoad};

use crate::model::{
    Budget, ClusterSnapshot, NodeState, Owner, PodKey, PodState, Qos, Replicas, WorkloadRef,
};
use crate::slim::{
    SlimBudget, SlimDeployment, SlimJob, SlimNode, SlimPod, SlimReplicaSet, SlimStatefulSet,
    stripped,
};

/// The Kubernetes objects one run reads.
#[derive(Debug, Clone, Default)]
pub struct KubeObjects {
    pub nodes: Vec<SlimNode>,
    /// Running pods on a node, each reduced as its page arrives ([`listed_pod`]).
    pub pods: Vec<PodState>,
    pub replica_sets: Vec<SlimReplicaSet>,
    pub deployments: Vec<SlimDeployment>,
    pub stateful_sets: Vec<SlimStatefulSet>,
    pub jobs: Vec<SlimJob>,
    pub budgets: Vec<SlimBudget>,
}

/// The Prometheus figures one run reads.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Sustained load by series identity (label value, port stripped).
    pub sustained: HashMap<String, SustainedLoad>,
    /// Recent load, as the scheduler extender reads it.
    pub recent: LoadSnapshot,
    /// Real usage by (namespace, pod).
    pub pod_usage: HashMap<(String, String), PodUsage>,
}

/// A list call that failed, and the resource it asked for (e.g. `pods`).
#[derive(Debug, thiserror::Error)]
#[error("cannot list {resource}: {source}")]
pub struct ListError {
    pub resource: String,
    pub source: kube::Error,
}

/// Objects per list call: a page of pods is a few megabytes of JSON, so memory while listing
/// stays bounded by what is kept of each object, whatever the cluster's size.
const PAGE: u32 = 500;

/// Lists everything a plan needs, cluster-wide, one paged list per kind.
pub async fn list_objects(client: &kube::Client) -> Result<KubeObjects, ListError> {
    // Only running pods on a node can be evicted or count on a destination.
    let running = ListParams::default().fields("status.phase=Running");
    let all = ListParams::default();
    let (nodes, pods, replica_sets, deployments, stateful_sets, jobs, budgets) = futures::try_join!(
        list(client, &all, Some),
        list(client, &running, listed_pod),
        list(client, &all, stripped),
        list(client, &all, stripped),
        list(client, &all, stripped),
        list(client, &all, stripped),
        list(client, &all, stripped),
    )?;
    Ok(KubeObjects {
        nodes,
        pods,
        replica_sets,
        deployments,
        stateful_sets,
        jobs,
        budgets,
    })
}

/// Every page of one list, each object passed through `keep` as its page arrives; the pages
/// after the first are read at the first one's resourceVersion, so together they are one
/// consistent list.
async fn list<K, T>(
    client: &kube::Client,
    params: &ListParams,
    keep: fn(K) -> Option<T>,
) -> Result<Vec<T>, ListError>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let api = Api::<K>::all(client.clone());
    let mut params = params.clone().limit(PAGE);
    let mut items = Vec::new();
    loop {
        let page = api.list(&params).await.map_err(|source| ListError {
            resource: K::plural(&()).into_owned(),
            source,
        })?;
        items.extend(page.items.into_iter().filter_map(keep));
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => {
                // Growing page by page left up to half the capacity unused, for the whole run.
                items.shrink_to_fit();
                return Ok(items);
            }
        }
    }
}

/// Joins objects and figures into a snapshot taken at `now`: owners are followed from
/// ReplicaSets to their Deployments and pods get their usage. The snapshot takes the nodes and
/// pods over rather than copying them: they are most of a run's memory.
pub fn assemble(objects: KubeObjects, figures: &Figures, now: SystemTime) -> ClusterSnapshot {
    let KubeObjects {
        nodes,
        mut pods,
        replica_sets,
        deployments,
        stateful_sets,
        jobs,
        budgets,
    } = objects;
    let owners = OwnerIndex {
        replica_sets: index(&replica_sets),
        deployments: index(&deployments),
        stateful_sets: index(&stateful_sets),
        jobs: index(&jobs),
    };
    let nodes = nodes
        .into_iter()
        .filter_map(|node| node_state(node, figures))
        .collect();
    for pod in &mut pods {
        owners.resolve(&mut pod.owner);
        let key = (pod.key.namespace.clone(), pod.key.name.clone());
        pod.usage = figures.pod_usage.get(&key).copied();
    }
    let mut workloads = BTreeMap::new();
    for pod in &pods {
        if let Owner::Workload(workload) = &pod.owner
            && let Some(replicas) = owners.replicas(workload)
        {
            workloads.insert(workload.clone(), replicas);
        }
    }
    ClusterSnapshot {
        now,
        nodes,
        pods,
        budgets: budgets.iter().filter_map(budget).collect(),
        workloads,
    }
}

fn node_state(node: SlimNode, figures: &Figures) -> Option<NodeState> {
    let status = node.status.as_ref();
    let info = NodeInfo::from_status(
        node.metadata.name.clone()?,
        status
            .and_then(|s| s.addresses.as_deref())
            .unwrap_or_default(),
        status.and_then(|s| s.allocatable.as_ref()),
        status.and_then(|s| s.capacity.as_ref()),
    );
    let sustained = std::iter::once(&info.name)
        .chain(&info.addresses)
        .find_map(|identity| figures.sustained.get(identity))
        .cloned();
    Some(NodeState {
        allocatable: info.allocatable.unwrap_or_default(),
        sustained,
        recent: figures.recent.for_node(&info).cloned(),
        unlisted_requests: Resources::default(),
        name: info.name,
        node,
    })
}

/// What a run keeps of a listed pod; `None` for a pod on no node. Its owner is its
/// controller, and its usage unknown: [`assemble`] follows a ReplicaSet to its Deployment
/// and joins usage.
pub fn listed_pod(pod: SlimPod) -> Option<PodState> {
    let meta = &pod.metadata;
    let node = pod.spec.as_ref()?.node_name.clone()?;
    let key = PodKey {
        namespace: meta.namespace.clone()?,
        name: meta.name.clone()?,
    };
    let status = pod.status.as_ref();
    let started = status
        .and_then(|s| s.start_time.as_ref())
        .or(meta.creation_timestamp.as_ref());
    Some(PodState {
        owner: controller_owner(meta, &key.namespace),
        priority: pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0),
        qos: qos(&pod),
        requests: pod_requests(&pod),
        usage: None,
        // A pod without a start time counts as just started: the age guard keeps it.
        created_at: started.map_or(SystemTime::now(), |t| SystemTime::from(t.0)),
        uid: meta.uid.clone().unwrap_or_default(),
        node,
        key,
        pod: pod.into(),
    })
}

/// Who keeps the pod running, as far as its own controller reference tells.
fn controller_owner(meta: &ObjectMeta, namespace: &str) -> Owner {
    let mirror = meta
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    let Some(owner) = controller(meta) else {
        return if mirror { Owner::Mirror } else { Owner::Bare };
    };
    match owner.kind.as_str() {
        "DaemonSet" => Owner::DaemonSet(owner.name.clone()),
        "Node" => Owner::Mirror,
        kind => Owner::Workload(WorkloadRef {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: owner.name.clone(),
        }),
    }
}

/// The QoS class the API server recorded; derived from the containers when absent.
fn qos(pod: &SlimPod) -> Qos {
    match pod.status.as_ref().and_then(|s| s.qos_class.as_deref()) {
        Some("Guaranteed") => Qos::Guaranteed,
        Some("BestEffort") => Qos::BestEffort,
        Some(_) => Qos::Burstable,
        None => derived_qos(pod),
    }
}

fn derived_qos(pod: &SlimPod) -> Qos {
    let mut any = false;
    let mut guaranteed = true;
    for resources in pod.containers() {
        let requests = resources.and_then(|r| r.requests.as_ref());
        let limits = resources.and_then(|r| r.limits.as_ref());
        any |= requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty());
        for resource in ["cpu", "memory"] {
            let limit = limits.and_then(|l| l.get(resource));
            // A request left out defaults to the limit, as the API server does.
            let request = requests.and_then(|r| r.get(resource)).or(limit);
            guaranteed &= limit.is_some() && request == limit;
        }
    }
    match (any, guaranteed) {
        (false, _) => Qos::BestEffort,
        (true, true) => Qos::Guaranteed,
        (true, false) => Qos::Burstable,
    }
}

fn budget(pdb: &SlimBudget) -> Option<Budget> {
    Some(Budget {
        namespace: pdb.metadata.namespace.clone()?,
        name: pdb.metadata.name.clone()?,
        selector: pdb.spec.as_ref().and_then(|s| s.selector.clone()),
        disruptions_allowed: pdb.status.as_ref().map_or(0, |s| s.disruptions_allowed),
    })
}

/// Owner chains by (namespace, name), to resolve a pod's controller to its workload.
struct OwnerIndex<'a> {
    replica_sets: HashMap<(&'a str, &'a str), &'a SlimReplicaSet>,
    deployments: HashMap<(&'a str, &'a str), &'a SlimDeployment>,
    stateful_sets: HashMap<(&'a str, &'a str), &'a SlimStatefulSet>,
    jobs: HashMap<(&'a str, &'a str), &'a SlimJob>,
}

fn index<K: Resource>(objects: &[K]) -> HashMap<(&str, &str), &K> {
    objects
        .iter()
        .filter_map(|o| {
            let meta = o.meta();
            Some(((meta.namespace.as_deref()?, meta.name.as_deref()?), o))
        })
        .collect()
}

fn controller(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
}

impl OwnerIndex<'_> {
    /// A ReplicaSet made by a Deployment belongs to that Deployment.
    fn resolve(&self, owner: &mut Owner) {
        if let Owner::Workload(workload) = owner
            && workload.kind == "ReplicaSet"
            && let Some(deployment) = self
                .replica_sets
                .get(&(workload.namespace.as_str(), workload.name.as_str()))
                .and_then(|rs| controller(&rs.metadata))
                .filter(|o| o.kind == "Deployment")
        {
            workload.name = deployment.name.clone();
            workload.kind = deployment.kind.clone();
        }
    }

    /// Desired and ready replicas; `None` for kinds Tidal cannot read (custom
    /// controllers), whose pods the planner then leaves alone.
    fn replicas(&self, workload: &WorkloadRef) -> Option<Replicas> {
        let key = (workload.namespace.as_str(), workload.name.as_str());
        match workload.kind.as_str() {
            "Deployment" => self.deployments.get(&key).map(|d| {
                let status = d.status.as_ref();
                replicas(
                    d.spec.as_ref().and_then(|s| s.replicas),
                    status.and_then(|s| s.ready_replicas),
                )
            }),
            "StatefulSet" => self.stateful_sets.get(&key).map(|s| {
                let status = s.status.as_ref();
                replicas(
                    s.spec.as_ref().and_then(|s| s.replicas),
                    status.and_then(|s| s.ready_replicas),
                )
            }),
            "ReplicaSet" => self.replica_sets.get(&key).map(|r| {
                let status = r.status.as_ref();
                replicas(
                    r.spec.as_ref().and_then(|s| s.replicas),
                    status.and_then(|s| s.ready_replicas),
                )
            }),
            "Job" => self.jobs.get(&key).map(|j| {
                let status = j.status.as_ref();
                replicas(
                    j.spec.as_ref().and_then(|s| s.parallelism),
                    status.and_then(|s| s.ready.or(s.active)),
                )
            }),
            _ => None,
        }
    }
}

/// Replica counts as the API defaults them: an unset desired count is 1.
fn replicas(desired: Option<i32>, ready: Option<i32>) -> Replicas {
    Replicas {
        desired: desired.unwrap_or(1),
        ready: ready.unwrap_or(0),
    }
}
