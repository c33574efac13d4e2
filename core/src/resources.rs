//! CPU and memory of pods and nodes, summed the way Kubernetes sums them.
//!
//! Tidal's placement must agree with kube-scheduler's `NodeResourcesFit` filter,
//! or the extender would bless nodes the scheduler then rejects (or the
//! reverse). So pod totals follow `k8s.io/component-helpers/resource`
//! (`PodRequests` / `PodLimits`) step by step, with exact [`Quantity`]
//! arithmetic, and are converted to milli-CPU / bytes only at the end, as the
//! scheduler does (`MilliValue` / `Value`).
//!
//! Every function comes in two flavours: the plain one skips a quantity that
//! does not parse (as if it were absent), the `_checked` one reports the first
//! such quantity instead. The API server never stores an unparsable quantity,
//! so the plain flavour suits objects read from the cluster.
//!
//! Pods are read through [`PodResourceFields`], so a full `Pod` and a slimmer
//! copy that kept only these fields (as the descheduler lists pods) share one
//! implementation of the arithmetic.

use std::collections::BTreeMap;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub, SubAssign};

use k8s_openapi::api::core::v1::{Node, Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

use crate::quantity::{Quantity, QuantityError};

/// A Kubernetes `ResourceList`: resource name to quantity.
pub type ResourceList = BTreeMap<String, K8sQuantity>;

const CPU: &str = "cpu";
const MEMORY: &str = "memory";

/// CPU in milli-cores and memory in bytes.
///
/// Arithmetic saturates at the `i64` bounds, so summing a whole cluster (or
/// subtracting usage from capacity) can never panic or wrap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    pub cpu_milli: i64,
    pub memory_bytes: i64,
}

/// A pod's effective limits; `None` means the pod's cgroup is not capped for
/// that resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PodLimits {
    pub cpu_milli: Option<i64>,
    pub memory_bytes: Option<i64>,
}

impl Resources {
    /// The larger of each resource (an envelope, not a sum).
    pub fn max(self, other: Self) -> Self {
        Self {
            cpu_milli: self.cpu_milli.max(other.cpu_milli),
            memory_bytes: self.memory_bytes.max(other.memory_bytes),
        }
    }
}

impl Add for Resources {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            cpu_milli: self.cpu_milli.saturating_add(other.cpu_milli),
            memory_bytes: self.memory_bytes.saturating_add(other.memory_bytes),
        }
    }
}

impl AddAssign for Resources {
    fn add_assign(&mut self, other: Self) {
        *self = *self + other;
    }
}

impl Sub for Resources {
    type Output = Self;

    fn sub(self, other: Self) -> Self {
        Self {
            cpu_milli: self.cpu_milli.saturating_sub(other.cpu_milli),
            memory_bytes: self.memory_bytes.saturating_sub(other.memory_bytes),
        }
    }
}

impl SubAssign for Resources {
    fn sub_assign(&mut self, other: Self) {
        *self = *self - other;
    }
}

impl Sum for Resources {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), Add::add)
    }
}

/// The fields of a pod its requests and limits come from.
pub trait PodResourceFields {
    /// `resources` of each app container.
    fn containers(&self) -> impl Iterator<Item = Option<&ResourceRequirements>>;
    /// `resources` and `restartPolicy` of each init container, in order.
    fn init_containers(
        &self,
    ) -> impl Iterator<Item = (Option<&ResourceRequirements>, Option<&str>)>;
    /// `spec.resources`: pod-level requests and limits.
    fn pod_level(&self) -> Option<&ResourceRequirements>;
    /// `spec.overhead`.
    fn overhead(&self) -> Option<&ResourceList>;
}

/// Implements [`PodResourceFields`] for a pod type whose `spec: Option<_>` has k8s-openapi's
/// field names and types (`containers`, `init_containers`, `resources`, `overhead`): the full
/// `Pod`, or a slim copy of it. The caller depends on `k8s_openapi`.
#[macro_export]
macro_rules! impl_pod_resource_fields {
    ($pod:ty) => {
        impl $crate::resources::PodResourceFields for $pod {
            fn containers(
                &self,
            ) -> impl Iterator<Item = Option<&::k8s_openapi::api::core::v1::ResourceRequirements>>
            {
                let containers = self.spec.iter().flat_map(|s| &s.containers);
                containers.map(|c| c.resources.as_ref())
            }

            fn init_containers(
                &self,
            ) -> impl Iterator<
                Item = (
                    Option<&::k8s_openapi::api::core::v1::ResourceRequirements>,
                    Option<&str>,
                ),
            > {
                let containers = self
                    .spec
                    .iter()
                    .flat_map(|s| s.init_containers.iter().flatten());
                containers.map(|c| (c.resources.as_ref(), c.restart_policy.as_deref()))
            }

            fn pod_level(&self) -> Option<&::k8s_openapi::api::core::v1::ResourceRequirements> {
                self.spec.as_ref()?.resources.as_ref()
            }

            fn overhead(&self) -> Option<&$crate::resources::ResourceList> {
                self.spec.as_ref()?.overhead.as_ref()
            }
        }
    };
}

impl_pod_resource_fields!(Pod);

/// The pod's effective requests, as kube-scheduler's `NodeResourcesFit`
/// filter computes them (`PodRequests` in k8s 1.33, pod-level resources on):
///
/// 1. `running` = sum of app containers + restartable init containers
///    (sidecars: `restartPolicy: Always`), which keep running;
/// 2. each regular init container needs its own request plus the sidecars
///    started before it; each sidecar, all sidecars up to itself;
/// 3. per resource, max(`running`, largest init-phase need);
/// 4. pod-level `spec.resources.requests`, where set, replace the result;
/// 5. `spec.overhead` is added.
///
/// A missing request counts as zero. Not modelled: the scheduler's scoring
/// defaults for missing requests (100m / 200MB) and, for pods being resized in
/// place, the status/allocated resources (a pending pod has none).
pub fn pod_requests(pod: &impl PodResourceFields) -> Resources {
    lenient(|reader| requests(pod, reader))
}

/// [`pod_requests`], failing on the first quantity that does not parse.
pub fn pod_requests_checked(pod: &impl PodResourceFields) -> Result<Resources, QuantityError> {
    checked(|reader| requests(pod, reader))
}

/// The pod's effective limits: `PodLimits` (same steps as [`pod_requests`],
/// over limits; overhead is added only to limits that are set), combined with
/// kubelet's rule for whether the pod cgroup gets a limit at all
/// (`ResourceConfigForPod`): a resource is unlimited (`None`) when any app
/// container, or any init container together with the sidecars started before
/// it, has no (or a zero) limit for it — unless a non-zero pod-level limit is
/// set. A quantity that does not parse counts as no limit.
pub fn pod_limits(pod: &impl PodResourceFields) -> PodLimits {
    lenient(|reader| limits(pod, reader))
}

/// [`pod_limits`], failing on the first quantity that does not parse.
pub fn pod_limits_checked(pod: &impl PodResourceFields) -> Result<PodLimits, QuantityError> {
    checked(|reader| limits(pod, reader))
}

/// What the node offers to pods: `status.allocatable`, falling back to
/// `status.capacity` per resource (some fake or freshly registered nodes only
/// report capacity). A resource in neither is zero.
pub fn node_allocatable(node: &Node) -> Resources {
    let status = node.status.as_ref();
    allocatable_from(
        status.and_then(|s| s.allocatable.as_ref()),
        status.and_then(|s| s.capacity.as_ref()),
    )
}

/// A node's allocatable CPU and memory from its `status.allocatable`, falling back
/// resource by resource to `status.capacity`; a quantity that does not parse counts
/// as missing.
pub fn allocatable_from(
    allocatable: Option<&ResourceList>,
    capacity: Option<&ResourceList>,
) -> Resources {
    lenient(|reader| {
        let mut read = |name| {
            reader
                .get(allocatable, name)
                .or_else(|| reader.get(capacity, name))
        };
        Amounts {
            cpu: read(CPU),
            memory: read(MEMORY),
        }
        .to_resources()
    })
}

fn lenient<T>(compute: impl FnOnce(&mut Reader) -> T) -> T {
    compute(&mut Reader::default())
}

fn checked<T>(compute: impl FnOnce(&mut Reader) -> T) -> Result<T, QuantityError> {
    let mut reader = Reader::default();
    let value = compute(&mut reader);
    reader.first_error.map_or(Ok(value), Err)
}

fn requests(pod: &impl PodResourceFields, reader: &mut Reader) -> Resources {
    let containers = aggregate(pod, Side::Requests, reader, |_| {});
    let pod_level = reader.list(Side::Requests.of(pod.pod_level()));
    let overhead = reader.list(pod.overhead());
    containers
        .overridden_by(pod_level)
        .add(overhead)
        .to_resources()
}

fn limits(pod: &impl PodResourceFields, reader: &mut Reader) -> PodLimits {
    let (mut cpu_capped, mut memory_capped) = (true, true);
    let containers = aggregate(pod, Side::Limits, reader, |container| {
        cpu_capped &= is_nonzero(container.cpu);
        memory_capped &= is_nonzero(container.memory);
    });
    let pod_level = reader.list(Side::Limits.of(pod.pod_level()));
    let overhead = reader.list(pod.overhead());
    let total = containers.overridden_by(pod_level);
    PodLimits {
        cpu_milli: cgroup_limit(
            total.cpu,
            overhead.cpu,
            cpu_capped || is_nonzero(pod_level.cpu),
        )
        .map(Quantity::milli_value_ceil),
        memory_bytes: cgroup_limit(
            total.memory,
            overhead.memory,
            memory_capped || is_nonzero(pod_level.memory),
        )
        .map(Quantity::value_ceil),
    }
}

/// Per-container sums (`aggregateContainerResourcesByFn`); `visit` sees what
/// each container needs while it runs, like kubelet's `ContainerFn`.
fn aggregate(
    pod: &impl PodResourceFields,
    side: Side,
    reader: &mut Reader,
    mut visit: impl FnMut(Amounts),
) -> Amounts {
    let mut running = Amounts::default();
    for resources in pod.containers() {
        let own = reader.list(side.of(resources));
        visit(own);
        running = running.add(own);
    }
    let mut sidecars = Amounts::default();
    let mut init_peak = Amounts::default();
    for (resources, restart_policy) in pod.init_containers() {
        let own = reader.list(side.of(resources));
        let while_starting = if restart_policy == Some("Always") {
            running = running.add(own);
            sidecars = sidecars.add(own);
            sidecars
        } else {
            own.add(sidecars)
        };
        visit(while_starting);
        init_peak = init_peak.max(while_starting);
    }
    running.max(init_peak)
}

/// The pod cgroup's limit: none unless kubelet would set one (`capped`);
/// `PodLimits` adds overhead only to a limit that is set and non-zero.
fn cgroup_limit(
    limit: Option<Quantity>,
    overhead: Option<Quantity>,
    capped: bool,
) -> Option<Quantity> {
    let limit = limit.filter(|_| capped)?;
    match overhead {
        Some(overhead) if !limit.is_zero() => Some(limit.saturating_add(overhead)),
        _ => Some(limit),
    }
}

fn is_nonzero(quantity: Option<Quantity>) -> bool {
    quantity.is_some_and(|q| !q.is_zero())
}

/// Which half of a container's `resources` to read.
#[derive(Clone, Copy)]
enum Side {
    Requests,
    Limits,
}

impl Side {
    fn of(self, resources: Option<&ResourceRequirements>) -> Option<&ResourceList> {
        let resources = resources?;
        match self {
            Side::Requests => resources.requests.as_ref(),
            Side::Limits => resources.limits.as_ref(),
        }
    }
}

/// Exact CPU and memory with Kubernetes map semantics: `None` is a resource
/// absent from the list, which matters for limits (absent = unlimited).
#[derive(Debug, Clone, Copy, Default)]
struct Amounts {
    cpu: Option<Quantity>,
    memory: Option<Quantity>,
}

type Combine = fn(Option<Quantity>, Option<Quantity>) -> Option<Quantity>;

impl Amounts {
    fn zip(self, other: Self, combine: Combine) -> Self {
        Self {
            cpu: combine(self.cpu, other.cpu),
            memory: combine(self.memory, other.memory),
        }
    }

    /// `addResourceList`: a resource present in either is present in the sum.
    fn add(self, other: Self) -> Self {
        self.zip(other, |a, b| match (a, b) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (a, b) => a.or(b),
        })
    }

    /// `maxResourceList`.
    fn max(self, other: Self) -> Self {
        self.zip(other, |a, b| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        })
    }

    /// `applyPodLevelResources`: values set at pod level win.
    fn overridden_by(self, pod_level: Self) -> Self {
        self.zip(pod_level, |own, pod_level| pod_level.or(own))
    }

    /// The scheduler's conversion: `MilliValue` for CPU, `Value` for memory.
    fn to_resources(self) -> Resources {
        Resources {
            cpu_milli: self.cpu.map_or(0, Quantity::milli_value_ceil),
            memory_bytes: self.memory.map_or(0, Quantity::value_ceil),
        }
    }
}

/// Reads CPU and memory out of resource lists, skipping quantities that do not
/// parse and remembering the first such error.
#[derive(Default)]
struct Reader {
    first_error: Option<QuantityError>,
}

impl Reader {
    fn list(&mut self, list: Option<&ResourceList>) -> Amounts {
        Amounts {
            cpu: self.get(list, CPU),
            memory: self.get(list, MEMORY),
        }
    }

    fn get(&mut self, list: Option<&ResourceList>, name: &str) -> Option<Quantity> {
        match Quantity::try_from(list?.get(name)?) {
            Ok(quantity) => Some(quantity),
            Err(error) => {
                self.first_error.get_or_insert(error);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const MI: i64 = 1 << 20;
    const GI: i64 = 1 << 30;

    fn pod(spec: Value) -> Pod {
        serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": "p" },
            "spec": spec,
        }))
        .unwrap_or_else(|e| panic!("test pod should deserialize: {e}"))
    }

    fn container(name: &str, requests: Value, limits: Value) -> Value {
        json!({ "name": name, "resources": { "requests": requests, "limits": limits } })
    }

    fn sidecar(name: &str, requests: Value) -> Value {
        json!({ "name": name, "restartPolicy": "Always", "resources": { "requests": requests } })
    }

    fn res(cpu_milli: i64, memory_bytes: i64) -> Resources {
        Resources {
            cpu_milli,
            memory_bytes,
        }
    }

    #[test]
    fn sums_app_containers() {
        let p = pod(json!({ "containers": [
            container("a", json!({ "cpu": "100m", "memory": "128Mi" }), json!({})),
            container("b", json!({ "cpu": "0.25", "memory": "1Gi" }), json!({})),
        ]}));
        assert_eq!(pod_requests(&p), res(350, 128 * MI + GI));
    }

    #[test]
    fn sums_exactly_before_rounding() {
        // Two half-millicores are one millicore, as for the scheduler; per
        // container rounding would say two.
        let p = pod(json!({ "containers": [
            container("a", json!({ "cpu": "0.5m", "memory": "0.5" }), json!({})),
            container("b", json!({ "cpu": "500u", "memory": "500m" }), json!({})),
        ]}));
        assert_eq!(pod_requests(&p), res(1, 1));
    }

    #[test]
    fn missing_requests_count_as_zero() {
        let p = pod(json!({ "containers": [
            { "name": "bare" },
            container("mem", json!({ "memory": "64Mi" }), json!({})),
        ]}));
        assert_eq!(pod_requests(&p), res(0, 64 * MI));
        assert_eq!(pod_requests(&Pod::default()), Resources::default());
    }

    #[test]
    fn init_containers_larger_than_the_app_sum_win_per_resource() {
        let p = pod(json!({
            "initContainers": [
                container("migrate", json!({ "cpu": "2", "memory": "64Mi" }), json!({})),
                container("warm", json!({ "cpu": "1" }), json!({})),
            ],
            "containers": [
                container("app", json!({ "cpu": "500m", "memory": "256Mi" }), json!({})),
            ],
        }));
        assert_eq!(pod_requests(&p), res(2000, 256 * MI));
    }

    #[test]
    fn sidecars_run_alongside_and_add_to_later_init_containers() {
        let p = pod(json!({
            "initContainers": [
                sidecar("proxy", json!({ "cpu": "100m", "memory": "50Mi" })),
                container("setup", json!({ "cpu": "700m", "memory": "10Mi" }), json!({})),
                sidecar("log", json!({ "cpu": "200m", "memory": "20Mi" })),
            ],
            "containers": [
                container("app", json!({ "cpu": "300m", "memory": "100Mi" }), json!({})),
            ],
        }));
        // running: 300 + 100 + 200 = 600m, 170Mi; setup phase: 700 + 100 = 800m, 60Mi.
        assert_eq!(pod_requests(&p), res(800, 170 * MI));
    }

    #[test]
    fn overhead_is_added_to_requests() {
        let p = pod(json!({
            "overhead": { "cpu": "250m", "memory": "120Mi" },
            "containers": [container("app", json!({ "cpu": "1" }), json!({}))],
        }));
        assert_eq!(pod_requests(&p), res(1250, 120 * MI));
    }

    #[test]
    fn pod_level_requests_replace_container_sums_per_resource() {
        let p = pod(json!({
            "resources": { "requests": { "cpu": "2" } },
            "overhead": { "cpu": "100m" },
            "containers": [
                container("app", json!({ "cpu": "500m", "memory": "1Gi" }), json!({})),
            ],
        }));
        assert_eq!(pod_requests(&p), res(2100, GI));
    }

    #[test]
    fn bad_quantities_are_skipped_or_reported() {
        let p = pod(json!({ "containers": [
            container("a", json!({ "cpu": "1GHz", "memory": "1Gi" }), json!({})),
            container("b", json!({ "cpu": "100m", "memory": "lots" }), json!({})),
        ]}));
        assert_eq!(pod_requests(&p), res(100, GI));
        let err = pod_requests_checked(&p).err();
        assert_eq!(err.as_ref().map(QuantityError::input), Some("1GHz"));
        let good = pod(json!({ "containers": [container("a", json!({ "cpu": "1" }), json!({}))] }));
        assert_eq!(pod_requests_checked(&good), Ok(res(1000, 0)));
    }

    #[test]
    fn limits_sum_when_every_container_is_capped() {
        let p = pod(json!({
            "overhead": { "cpu": "100m", "memory": "10Mi" },
            "initContainers": [
                container("init", json!({}), json!({ "cpu": "3", "memory": "1Gi" })),
            ],
            "containers": [
                container("a", json!({}), json!({ "cpu": "1", "memory": "1Gi" })),
                container("b", json!({}), json!({ "cpu": "1", "memory": "512Mi" })),
            ],
        }));
        let expected = PodLimits {
            cpu_milli: Some(3100),
            memory_bytes: Some(GI + 512 * MI + 10 * MI),
        };
        assert_eq!(pod_limits(&p), expected);
        assert_eq!(pod_limits_checked(&p), Ok(expected));
    }

    #[test]
    fn one_uncapped_container_leaves_the_pod_uncapped() {
        let p = pod(json!({
            "initContainers": [container("init", json!({}), json!({ "memory": "1Gi" }))],
            "containers": [
                container("a", json!({}), json!({ "cpu": "1", "memory": "1Gi" })),
                container("b", json!({}), json!({ "cpu": "0", "memory": "1Gi" })),
            ],
        }));
        let expected = PodLimits {
            cpu_milli: None,
            memory_bytes: Some(2 * GI),
        };
        assert_eq!(pod_limits(&p), expected);
        assert_eq!(pod_limits(&Pod::default()), PodLimits::default());
    }

    #[test]
    fn init_container_after_a_capped_sidecar_counts_as_capped_like_kubelet() {
        let p = pod(json!({
            "initContainers": [
                { "name": "proxy", "restartPolicy": "Always",
                  "resources": { "limits": { "memory": "100Mi" } } },
                { "name": "setup" },
            ],
            "containers": [container("app", json!({}), json!({ "memory": "1Gi" }))],
        }));
        assert_eq!(pod_limits(&p).memory_bytes, Some(GI + 100 * MI));
    }

    #[test]
    fn pod_level_limits_cap_the_pod() {
        let p = pod(json!({
            "resources": { "limits": { "cpu": "4" } },
            "overhead": { "cpu": "100m" },
            "containers": [{ "name": "app" }],
        }));
        let expected = PodLimits {
            cpu_milli: Some(4100),
            memory_bytes: None,
        };
        assert_eq!(pod_limits(&p), expected);
    }

    #[test]
    fn unparsable_limits_mean_unlimited() {
        let p = pod(json!({ "containers": [
            container("a", json!({}), json!({ "cpu": "one", "memory": "1Gi" })),
        ]}));
        assert_eq!(pod_limits(&p).cpu_milli, None);
        assert_eq!(pod_limits(&p).memory_bytes, Some(GI));
        assert!(pod_limits_checked(&p).is_err());
    }

    fn node(status: Value) -> Node {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node", "metadata": { "name": "n" }, "status": status,
        }))
        .unwrap_or_else(|e| panic!("test node should deserialize: {e}"))
    }

    #[test]
    fn node_allocatable_falls_back_to_capacity_per_resource() {
        let n = node(json!({
            "allocatable": { "cpu": "3920m" },
            "capacity": { "cpu": "4", "memory": "16Gi" },
        }));
        assert_eq!(node_allocatable(&n), res(3920, 16 * GI));
        assert_eq!(node_allocatable(&Node::default()), Resources::default());
        let bad = node(json!({ "allocatable": { "cpu": "4 cores", "memory": "1Gi" } }));
        assert_eq!(node_allocatable(&bad), res(0, GI));
    }

    #[test]
    fn reads_resource_lists() {
        let list: ResourceList = [
            ("cpu".to_owned(), K8sQuantity("1.5".to_owned())),
            ("memory".to_owned(), K8sQuantity("2Gi".to_owned())),
            ("nvidia.com/gpu".to_owned(), K8sQuantity("1".to_owned())),
        ]
        .into();
        assert_eq!(allocatable_from(Some(&list), None), res(1500, 2 * GI));
        assert_eq!(allocatable_from(None, Some(&list)), res(1500, 2 * GI));
        assert_eq!(
            allocatable_from(Some(&ResourceList::new()), None),
            Resources::default()
        );
    }

    #[test]
    fn arithmetic_saturates() {
        let big = res(i64::MAX, i64::MAX);
        assert_eq!(big + res(1, 1), big);
        assert_eq!(res(i64::MIN, 0) - res(1, 0), res(i64::MIN, 0));
        let mut r = res(1, 2);
        r += res(3, 4);
        assert_eq!(r, res(4, 6));
        r -= res(1, 1);
        assert_eq!(r, res(3, 5));
        assert_eq!(res(1, 9).max(res(5, 2)), res(5, 9));
        assert_eq!(
            [res(1, 2), res(3, 4)].into_iter().sum::<Resources>(),
            res(4, 6)
        );
    }
}
