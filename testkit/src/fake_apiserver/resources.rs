//! The resource types the fake serves, and how each one behaves where real
//! kube-apiserver registries differ. Serving another type is one more row in
//! [`RESOURCES`].

/// How a create request treats `.status` (each registry's `PrepareForCreate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum StatusOnCreate {
    /// Status is part of the object and kept (nodes, events: no status subresource rules).
    Keep,
    /// Status is wiped; only controllers write it through `/status`.
    Clear,
    /// Pods start `Pending`.
    PodPending,
    /// Namespaces start `Active`.
    NamespaceActive,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ResourceDef {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    /// Has a `/status` subresource: the main resource ignores status writes and vice versa.
    pub status_subresource: bool,
    /// `metadata.generation` starts at 1 and increases on every `.spec` change.
    pub tracks_generation: bool,
    /// DELETE of a scheduled object waits for its kubelet (`deletionTimestamp` first), like pods.
    pub graceful_deletion: bool,
    /// An immediate DELETE answers with the object instead of a `Status` (`ReturnDeletedObject`).
    pub returns_deleted_object: bool,
    pub status_on_create: StatusOnCreate,
    /// Field selectors beyond `metadata.name`/`metadata.namespace`: (field, JSON pointer, value when absent).
    pub fields: &'static [(&'static str, &'static str, &'static str)],
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// `pods` or `deployments.apps`, as the real server names resources in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

const fn def(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> ResourceDef {
    ResourceDef {
        group,
        version,
        plural,
        kind,
        namespaced,
        status_subresource: false,
        tracks_generation: false,
        graceful_deletion: false,
        returns_deleted_object: false,
        status_on_create: StatusOnCreate::Keep,
        fields: &[],
    }
}

/// A workload-like type: status subresource, generation, status wiped on create.
const fn workload(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
) -> ResourceDef {
    ResourceDef {
        status_subresource: true,
        tracks_generation: true,
        status_on_create: StatusOnCreate::Clear,
        ..def(group, version, plural, kind, true)
    }
}

const POD_FIELDS: &[(&str, &str, &str)] = &[
    ("spec.nodeName", "/spec/nodeName", ""),
    ("spec.restartPolicy", "/spec/restartPolicy", ""),
    ("spec.schedulerName", "/spec/schedulerName", ""),
    ("spec.serviceAccountName", "/spec/serviceAccountName", ""),
    ("spec.hostNetwork", "/spec/hostNetwork", "false"),
    ("status.phase", "/status/phase", ""),
    ("status.podIP", "/status/podIP", ""),
    ("status.nominatedNodeName", "/status/nominatedNodeName", ""),
];

const CORE_EVENT_FIELDS: &[(&str, &str, &str)] = &[
    ("involvedObject.kind", "/involvedObject/kind", ""),
    ("involvedObject.namespace", "/involvedObject/namespace", ""),
    ("involvedObject.name", "/involvedObject/name", ""),
    ("involvedObject.uid", "/involvedObject/uid", ""),
    ("reason", "/reason", ""),
    ("type", "/type", ""),
];

/// events.k8s.io/v1 accepts the core/v1 field names (both share one storage in a real server).
const EVENTS_V1_FIELDS: &[(&str, &str, &str)] = &[
    ("involvedObject.kind", "/regarding/kind", ""),
    ("involvedObject.namespace", "/regarding/namespace", ""),
    ("involvedObject.name", "/regarding/name", ""),
    ("involvedObject.uid", "/regarding/uid", ""),
    ("reason", "/reason", ""),
    ("type", "/type", ""),
];

pub(crate) static RESOURCES: &[ResourceDef] = &[
    ResourceDef {
        status_subresource: true,
        fields: &[("spec.unschedulable", "/spec/unschedulable", "false")],
        ..def("", "v1", "nodes", "Node", false)
    },
    ResourceDef {
        status_subresource: true,
        graceful_deletion: true,
        returns_deleted_object: true,
        status_on_create: StatusOnCreate::PodPending,
        fields: POD_FIELDS,
        ..def("", "v1", "pods", "Pod", true)
    },
    ResourceDef {
        status_subresource: true,
        status_on_create: StatusOnCreate::NamespaceActive,
        fields: &[("status.phase", "/status/phase", "")],
        ..def("", "v1", "namespaces", "Namespace", false)
    },
    def("", "v1", "configmaps", "ConfigMap", true),
    ResourceDef {
        fields: CORE_EVENT_FIELDS,
        ..def("", "v1", "events", "Event", true)
    },
    ResourceDef {
        fields: EVENTS_V1_FIELDS,
        ..def("events.k8s.io", "v1", "events", "Event", true)
    },
    workload(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
    ),
    workload("apps", "v1", "replicasets", "ReplicaSet"),
    workload("apps", "v1", "deployments", "Deployment"),
    workload("apps", "v1", "statefulsets", "StatefulSet"),
    workload("apps", "v1", "daemonsets", "DaemonSet"),
    workload(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
    ),
    workload("batch", "v1", "jobs", "Job"),
    workload("batch", "v1", "cronjobs", "CronJob"),
    def("coordination.k8s.io", "v1", "leases", "Lease", true),
];

/// The resource served at `{group}/{version}/{plural}`.
pub(crate) fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The versions of each group, for discovery.
pub(crate) fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut gvs: Vec<_> = RESOURCES.iter().map(|r| (r.group, r.version)).collect();
    gvs.sort_unstable();
    gvs.dedup();
    gvs
}
