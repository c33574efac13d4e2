//! How much memory a descheduler run's snapshot takes at 5,000 nodes / 150,000 pods.
//!
//! The objects are realistic API server answers (managed fields, probes, the
//! service-account volume, container statuses, node images, Deployments' last-applied
//! annotations), generated one list page of 500 at a time and decoded from JSON text the
//! way `kube` decodes a list response and reduced as `list_objects` reduces each page, then
//! joined by `assemble`. Reports the live heap (a counting allocator, so memory the allocator
//! keeps after a free is not counted) and the process's RSS. Figures in BENCHMARKS.md.
//!
//! `cargo run --release -p tidal-descheduler --example snapshot_memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use kube::core::ObjectList;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tidal_core::usage::{PodUsage, SustainedLoad};
use tidal_descheduler::slim::stripped;
use tidal_descheduler::snapshot::{Figures, KubeObjects, assemble, listed_pod};

const NODES: usize = 5_000;
const PODS_PER_NODE: usize = 30;
const REPLICAS: usize = 6;
const PAGE: usize = 500;
const MIB: f64 = 1024.0 * 1024.0;

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `VmRSS` and `VmHWM` (peak) from `/proc/self/status`, in MiB; 0 where unreadable.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn report(stage: &str) {
    let (rss, peak_rss) = rss();
    let mib = |bytes: &AtomicUsize| bytes.load(Ordering::Relaxed) as f64 / MIB;
    let (heap, peak_heap) = (mib(&LIVE), mib(&PEAK));
    println!(
        "{stage:<30} heap {heap:>6.0} MiB (peak {peak_heap:>6.0})   RSS {rss:>6.0} MiB (peak {peak_rss:>6.0})"
    );
}

/// Decodes `count` objects, one list page of JSON text at a time, each passed through `keep`
/// as the list calls do.
fn list<K: DeserializeOwned + Clone, T>(
    count: usize,
    item: impl Fn(usize) -> Value,
    keep: fn(K) -> Option<T>,
) -> Vec<T> {
    let mut all = Vec::new();
    for start in (0..count).step_by(PAGE) {
        let items: Vec<Value> = (start..count.min(start + PAGE)).map(&item).collect();
        let text = json!({"apiVersion": "v1", "kind": "List",
            "metadata": {"resourceVersion": "1000000"}, "items": items})
        .to_string();
        drop(items);
        match serde_json::from_str::<ObjectList<K>>(&text) {
            Ok(page) => all.extend(page.items.into_iter().filter_map(keep)),
            Err(e) => panic!("generated page does not decode: {e}"),
        }
    }
    all.shrink_to_fit();
    all
}

/// `len` pseudo-random hex digits (xorshift), so names and ids vary as real ones do.
fn hex(seed: usize, len: usize) -> String {
    let mut x = seed as u64 ^ 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b"0123456789abcdef"[(x % 16) as usize])
        })
        .collect()
}

/// A UUID-shaped id, distinct per kind of object and index.
fn uid(kind: usize, i: usize) -> String {
    let h = hex(kind * 1_000_003 + i, 32);
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..]
    )
}

const TIME: &str = "2026-01-01T00:00:00Z";

fn node_name(n: usize) -> String {
    format!("ip-10-0-{}-{}.eu-west-1.compute.internal", n / 250, n % 250)
}

fn node(n: usize) -> Value {
    let name = node_name(n);
    let images: Vec<Value> = (0..40)
        .map(|i| {
            let repo = format!("registry.example.com/team-{}/service-{i}", i % 7);
            json!({"names": [format!("{repo}@sha256:{}", hex(i, 64)), format!("{repo}:1.{i}.0")],
                "sizeBytes": 50_000_000 + i * 1_000_000})
        })
        .collect();
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "lastHeartbeatTime": TIME,
            "lastTransitionTime": TIME, "reason": reason, "message": message})
    };
    json!({
        "metadata": {
            "name": name, "uid": uid(0, n), "resourceVersion": "999001", "creationTimestamp": TIME,
            "labels": {
                "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/instance-type": "m6i.4xlarge", "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "m6i.4xlarge",
                "topology.kubernetes.io/region": "eu-west-1",
                "topology.kubernetes.io/zone": format!("eu-west-1{}", ["a", "b", "c"][n % 3]),
                "eks.amazonaws.com/nodegroup": "general", "eks.amazonaws.com/capacityType": "ON_DEMAND",
            },
            "annotations": {
                "alpha.kubernetes.io/provided-node-ip": format!("10.0.{}.{}", n / 250, n % 250),
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                "csi.volume.kubernetes.io/nodeid": format!("{{\"ebs.csi.aws.com\":\"i-{}\"}}", hex(n, 17)),
            },
            "managedFields": [
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": TIME,
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:annotations": {".": {},
                    "f:alpha.kubernetes.io/provided-node-ip": {}, "f:volumes.kubernetes.io/controller-managed-attach-detach": {}},
                    "f:labels": {".": {}, "f:beta.kubernetes.io/arch": {}, "f:beta.kubernetes.io/os": {},
                    "f:kubernetes.io/arch": {}, "f:kubernetes.io/hostname": {}, "f:kubernetes.io/os": {}}},
                    "f:spec": {"f:providerID": {}}}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": TIME,
                 "fieldsType": "FieldsV1", "subresource": "status", "fieldsV1": {"f:status": {
                    "f:allocatable": {"f:cpu": {}, "f:memory": {}}, "f:capacity": {"f:cpu": {}, "f:memory": {}},
                    "f:conditions": {"k:{\"type\":\"Ready\"}": {"f:lastHeartbeatTime": {}, "f:status": {}}},
                    "f:images": {}, "f:nodeInfo": {"f:bootID": {}}}}},
            ],
        },
        "spec": {"podCIDR": format!("10.244.{}.0/24", n % 256), "podCIDRs": [format!("10.244.{}.0/24", n % 256)],
            "providerID": format!("aws:///eu-west-1a/i-{}", hex(n, 17))},
        "status": {
            "capacity": {"cpu": "16", "memory": "65023124Ki", "pods": "110", "ephemeral-storage": "104845292Ki",
                "hugepages-1Gi": "0", "hugepages-2Mi": "0"},
            "allocatable": {"cpu": "15890m", "memory": "63007892Ki", "pods": "110",
                "ephemeral-storage": "95551679124", "hugepages-1Gi": "0", "hugepages-2Mi": "0"},
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": format!("10.0.{}.{}", n / 250, n % 250)},
                {"type": "InternalDNS", "address": name}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": hex(n, 32), "systemUUID": uid(1, n), "bootID": uid(2, n),
                "kernelVersion": "6.1.119-129.201.amzn2023.x86_64", "osImage": "Amazon Linux 2023.6.20241212",
                "containerRuntimeVersion": "containerd://1.7.23", "kubeletVersion": "v1.33.1-eks-1234567",
                "kubeProxyVersion": "v1.33.1-eks-1234567", "operatingSystem": "linux", "architecture": "amd64"},
            "images": images,
        },
    })
}

fn app(w: usize) -> (String, String, String) {
    (format!("ns-{}", w % 50), format!("app-{w}"), hex(w, 10))
}

/// The pod template of workload `w`, as Deployments and ReplicaSets carry it.
fn pod_spec(w: usize) -> Value {
    let (_, name, _) = app(w);
    let probe = |path: &str| {
        json!({"httpGet": {"path": path, "port": 8080, "scheme": "HTTP"}, "timeoutSeconds": 1,
            "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    };
    json!({
        "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace",
                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}],
        "containers": [{
            "name": "app", "image": format!("registry.example.com/shop/{name}:1.2.3"),
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "LOG_LEVEL", "value": "info"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
            "volumeMounts": [{"name": "kube-api-access", "readOnly": true,
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
            "livenessProbe": probe("/healthz"), "readinessProbe": probe("/ready"),
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
        }],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default", "serviceAccount": "default", "securityContext": {},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        ],
        "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority",
    })
}

fn pod(i: usize) -> Value {
    let w = i / REPLICAS;
    let (namespace, app_name, hash) = app(w);
    let n = (i * 7919) % NODES;
    let mut spec = pod_spec(w);
    spec["nodeName"] = json!(node_name(n));
    let condition = |kind: &str| json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": TIME});
    let ip = format!("10.244.{}.{}", n % 256, i % 250);
    let conditions = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    .map(condition);
    json!({
        "metadata": {
            "name": format!("{app_name}-{hash}-{}", &hex(i, 5)), "generateName": format!("{app_name}-{hash}-"),
            "namespace": namespace, "uid": uid(3, i), "resourceVersion": "999002", "creationTimestamp": TIME,
            "labels": {"app": app_name, "pod-template-hash": hash, "app.kubernetes.io/part-of": "shop"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": TIME, "prometheus.io/scrape": "true",
                "prometheus.io/port": "8080"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app_name}-{hash}"),
                "uid": uid(4, w), "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": TIME,
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:annotations": {".": {},
                    "f:kubectl.kubernetes.io/restartedAt": {}, "f:prometheus.io/port": {}, "f:prometheus.io/scrape": {}},
                    "f:generateName": {}, "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
                    "f:ownerReferences": {".": {}, format!("k:{{\"uid\":\"{}\"}}", uid(4, w)): {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:env": {".": {},
                        "k:{\"name\":\"LOG_LEVEL\"}": {".": {}, "f:name": {}, "f:value": {}}}, "f:image": {},
                        "f:imagePullPolicy": {}, "f:livenessProbe": {".": {}, "f:httpGet": {".": {}, "f:path": {},
                        "f:port": {}, "f:scheme": {}}}, "f:name": {}, "f:ports": {".": {},
                        "k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {},
                        "f:name": {}, "f:protocol": {}}}, "f:resources": {".": {}, "f:limits": {".": {},
                        "f:memory": {}}, "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}}}}},
                        "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                        "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}}}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": TIME,
                 "fieldsType": "FieldsV1", "subresource": "status", "fieldsV1": {"f:status": {
                    "f:conditions": {"k:{\"type\":\"ContainersReady\"}": {".": {}, "f:lastProbeTime": {},
                    "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}, "k:{\"type\":\"Ready\"}": {".": {},
                    "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}},
                    "f:containerStatuses": {}, "f:hostIP": {}, "f:hostIPs": {}, "f:phase": {}, "f:podIP": {},
                    "f:podIPs": {".": {}, format!("k:{{\"ip\":\"{ip}\"}}"): {".": {}, "f:ip": {}}}, "f:startTime": {}}}},
            ],
        },
        "spec": spec,
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": format!("10.0.{}.{}", n / 250, n % 250), "hostIPs": [{"ip": format!("10.0.{}.{}", n / 250, n % 250)}],
            "podIP": ip, "podIPs": [{"ip": ip}], "startTime": TIME,
            "containerStatuses": [{"name": "app", "state": {"running": {"startedAt": TIME}}, "lastState": {},
                "ready": true, "restartCount": 0, "started": true,
                "image": format!("registry.example.com/shop/{app_name}:1.2.3"),
                "imageID": format!("registry.example.com/shop/{app_name}@sha256:{}", hex(w, 64)),
                "containerID": format!("containerd://{}", hex(i, 64)),
                "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                    "readOnly": true, "recursiveReadOnly": "Disabled"}]}],
            "qosClass": "Burstable",
        },
    })
}

fn workload_meta(w: usize, kind: usize, name: String) -> Value {
    let (namespace, app_name, _) = app(w);
    json!({"name": name, "namespace": namespace, "uid": uid(kind, w), "resourceVersion": "999003",
        "generation": 1, "creationTimestamp": TIME, "labels": {"app": app_name, "app.kubernetes.io/part-of": "shop"},
        "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
            "time": TIME, "fieldsType": "FieldsV1", "subresource": "status", "fieldsV1": {"f:status": {
            "f:availableReplicas": {}, "f:observedGeneration": {}, "f:readyReplicas": {}, "f:replicas": {}}}}]})
}

fn template(w: usize) -> Value {
    let (_, app_name, hash) = app(w);
    json!({"metadata": {"labels": {"app": app_name, "pod-template-hash": hash}}, "spec": pod_spec(w)})
}

fn deployment(w: usize) -> Value {
    let (_, app_name, _) = app(w);
    let mut metadata = workload_meta(w, 5, app_name.clone());
    let applied = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app_name},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": app_name}}, "template": template(w)}});
    metadata["annotations"] = json!({"deployment.kubernetes.io/revision": "1",
        "kubectl.kubernetes.io/last-applied-configuration": applied.to_string()});
    json!({"metadata": metadata,
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": app_name}}, "template": template(w),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
        "status": {"observedGeneration": 1, "replicas": REPLICAS, "updatedReplicas": REPLICAS,
            "readyReplicas": REPLICAS, "availableReplicas": REPLICAS, "conditions": [
            {"type": "Available", "status": "True", "lastUpdateTime": TIME, "lastTransitionTime": TIME,
             "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
            {"type": "Progressing", "status": "True", "lastUpdateTime": TIME, "lastTransitionTime": TIME,
             "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{app_name}\" has successfully progressed.")}]}})
}

fn replica_set(w: usize) -> Value {
    let (_, app_name, hash) = app(w);
    let mut metadata = workload_meta(w, 4, format!("{app_name}-{hash}"));
    metadata["annotations"] = json!({"deployment.kubernetes.io/desired-replicas": REPLICAS.to_string(),
        "deployment.kubernetes.io/max-replicas": (REPLICAS + 2).to_string(), "deployment.kubernetes.io/revision": "1"});
    metadata["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": app_name,
        "uid": uid(5, w), "controller": true, "blockOwnerDeletion": true}]);
    json!({"metadata": metadata,
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": app_name, "pod-template-hash": hash}},
            "template": template(w)},
        "status": {"replicas": REPLICAS, "fullyLabeledReplicas": REPLICAS, "readyReplicas": REPLICAS,
            "availableReplicas": REPLICAS, "observedGeneration": 1}})
}

fn budget(w: usize) -> Value {
    let (_, app_name, _) = app(w);
    json!({"metadata": workload_meta(w, 6, app_name.clone()),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": app_name}}},
        "status": {"observedGeneration": 1, "disruptionsAllowed": 1, "currentHealthy": REPLICAS,
            "desiredHealthy": REPLICAS - 1, "expectedPods": REPLICAS, "conditions": [{"type": "DisruptionAllowed",
            "status": "True", "lastTransitionTime": TIME, "reason": "SufficientPods", "message": "",
            "observedGeneration": 1}]}})
}

/// Sustained load for every node and usage for every pod, as Prometheus would give them.
fn figures(now: SystemTime) -> Figures {
    let sustained = (0..NODES)
        .map(|n| {
            let load = SustainedLoad {
                cpu_cores: 8.0,
                memory_bytes: 3e10,
                sampled_at: now,
            };
            (format!("10.0.{}.{}", n / 250, n % 250), load)
        })
        .collect();
    let pod_usage: HashMap<(String, String), PodUsage> = (0..NODES * PODS_PER_NODE)
        .map(|i| {
            let (namespace, app_name, hash) = app(i / REPLICAS);
            let usage = PodUsage {
                cpu_cores: 0.2,
                memory_bytes: 4e8,
            };
            (
                (namespace, format!("{app_name}-{hash}-{}", &hex(i, 5))),
                usage,
            )
        })
        .collect();
    Figures {
        sustained,
        pod_usage,
        ..Figures::default()
    }
}

fn main() {
    let now = SystemTime::now();
    let workloads = NODES * PODS_PER_NODE / REPLICAS;
    let figures = figures(now);
    report("Prometheus figures");
    // Each kind reduced as `list_objects` reduces it.
    let nodes = list(NODES, node, Some);
    report("+ nodes listed");
    let pods = list(NODES * PODS_PER_NODE, pod, listed_pod);
    report("+ pods listed");
    let replica_sets = list(workloads, replica_set, stripped);
    let deployments = list(workloads, deployment, stripped);
    let budgets = list(workloads, budget, stripped);
    report("+ workloads and budgets listed");
    let objects = KubeObjects {
        nodes,
        pods,
        replica_sets,
        deployments,
        stateful_sets: Vec::new(),
        jobs: Vec::new(),
        budgets,
    };
    let snapshot = assemble(objects, &figures, now + Duration::from_secs(1));
    report("snapshot assembled from them");
    println!(
        "{} nodes, {} pods, {} workloads, {} budgets",
        snapshot.nodes.len(),
        snapshot.pods.len(),
        snapshot.workloads.len(),
        snapshot.budgets.len()
    );
}
