//! Realistic Kubernetes objects as the API server serves them, in JSON: managed fields,
//! probes, the service-account volume, container statuses, node images, Deployments'
//! last-applied annotations. For measuring what decoding and keeping real objects costs
//! (`descheduler/examples/snapshot_memory.rs`, `scheduler-extender/examples/watch_memory.rs`);
//! [`crate::objects`] has the minimal ones tests read more easily.
//!
//! Names and ids are pseudo-random but fixed by index, so runs compare. Every timestamp is
//! [`TIME`], long past: nothing here counts as just scheduled.

use serde_json::{Value, json};

/// Pods per workload (Deployment, ReplicaSet and PodDisruptionBudget `w`).
pub const REPLICAS: usize = 6;

/// Every object's timestamps: creation, conditions, `PodScheduled`.
pub const TIME: &str = "2026-01-01T00:00:00Z";

/// `len` pseudo-random hex digits (xorshift), so names and ids vary as real ones do.
pub fn hex(seed: usize, len: usize) -> String {
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
pub fn uid(kind: usize, i: usize) -> String {
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

/// Node `n`'s name, as on EKS: `ip-10-0-0-7.eu-west-1.compute.internal`.
pub fn node_name(n: usize) -> String {
    format!("ip-10-0-{}-{}.eu-west-1.compute.internal", n / 250, n % 250)
}

/// Node `n`: 16 cores, 62 GiB, 40 images, four conditions, InternalIP `10.0.{n / 250}.{n % 250}`.
pub fn node(n: usize) -> Value {
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

/// Workload `w`'s namespace (one of 50), name and pod-template hash.
pub fn app(w: usize) -> (String, String, String) {
    (format!("ns-{}", w % 50), format!("app-{w}"), hex(w, 10))
}

/// The pod template of workload `w`, as Deployments and ReplicaSets carry it.
pub fn pod_spec(w: usize) -> Value {
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

/// Pod `i`, a replica of workload `i / REPLICAS`: Running and Ready, bound to one of `nodes`
/// nodes (spread by a stride, not in order) since [`TIME`].
pub fn pod(i: usize, nodes: usize) -> Value {
    let w = i / REPLICAS;
    let (namespace, app_name, hash) = app(w);
    let n = (i * 7919) % nodes.max(1);
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

/// Workload `w`'s Deployment of [`REPLICAS`] pods, with kubectl's last-applied annotation.
pub fn deployment(w: usize) -> Value {
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

/// Workload `w`'s ReplicaSet, owned by its Deployment.
pub fn replica_set(w: usize) -> Value {
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

/// Workload `w`'s PodDisruptionBudget (`maxUnavailable: 1`), allowing one disruption.
pub fn budget(w: usize) -> Value {
    let (_, app_name, _) = app(w);
    json!({"metadata": workload_meta(w, 6, app_name.clone()),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": app_name}}},
        "status": {"observedGeneration": 1, "disruptionsAllowed": 1, "currentHealthy": REPLICAS,
            "desiredHealthy": REPLICAS - 1, "expectedPods": REPLICAS, "conditions": [{"type": "DisruptionAllowed",
            "status": "True", "lastTransitionTime": TIME, "reason": "SufficientPods", "message": "",
            "observedGeneration": 1}]}})
}
