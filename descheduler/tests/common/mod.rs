//! Snapshots for planner tests: hand-made ones read like manifests, random ones
//! come from proptest strategies. Every figure is sampled at [`now`].
#![allow(dead_code)] // each test binary uses its own part of the builder

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use proptest::prelude::*;
use serde_json::{Value, json};
use tidal_core::load::{NodeLoad, Usage};
use tidal_core::resources::Resources;
use tidal_core::scoring::{MissingMetrics, Scorer, Thresholds, Weights};
use tidal_core::usage::{PodUsage, SustainedLoad};
use tidal_descheduler::model::{
    Budget, ClusterSnapshot, KeptPod, NodeState, Owner, PodKey, PodState, Qos, Replicas,
    WorkloadRef,
};
use tidal_descheduler::plan::Plan;
use tidal_descheduler::policy::{Fractions, Limits, Policy, ThresholdMode};
use tidal_descheduler::slim::{SlimNode, SlimPod};

pub const MI: i64 = 1 << 20;
pub const GI: i64 = 1 << 30;

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

pub fn scorer() -> Scorer {
    Scorer {
        thresholds: Thresholds::default(),
        weights: Weights::default(),
        max_age: Duration::from_secs(300),
        on_missing: MissingMetrics::FailOpen,
    }
}

/// Policy with generous limits, so a scenario is only bound by what it tests.
pub fn policy() -> Policy {
    Policy {
        limits: Limits {
            per_node: 10,
            per_namespace: 10,
            per_workload: 10,
            total: 50,
        },
        availability_floor: 0.5,
        ..Policy::default()
    }
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap_or_else(|e| panic!("test object should parse: {e}"))
}

/// A Ready node of `cores` and `mem_gi` whose sustained and recent load are the given
/// fractions; `spec` is its `spec` (taints, unschedulable).
pub fn node_with(
    name: &str,
    cores: i64,
    mem_gi: i64,
    cpu: f64,
    mem: f64,
    spec: Value,
) -> NodeState {
    let node: SlimNode = parse(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": spec,
        "status": {
            "allocatable": {"cpu": cores.to_string(), "memory": format!("{mem_gi}Gi"), "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }));
    let (cpu_cores, memory_bytes) = (cpu * cores as f64, mem * (mem_gi * GI) as f64);
    NodeState {
        node,
        name: name.to_string(),
        allocatable: Resources {
            cpu_milli: cores * 1000,
            memory_bytes: mem_gi * GI,
        },
        sustained: Some(SustainedLoad {
            cpu_cores,
            memory_bytes,
            sampled_at: now(),
        }),
        recent: Some(NodeLoad {
            cpu_cores: Usage {
                average: cpu_cores,
                peak: cpu_cores,
            },
            memory_bytes: Usage {
                average: memory_bytes,
                peak: memory_bytes,
            },
            capacity: None,
            sampled_at: now(),
        }),
        unlisted_requests: Resources::default(),
    }
}

pub fn node(name: &str, cores: i64, mem_gi: i64, cpu: f64, mem: f64) -> NodeState {
    node_with(name, cores, mem_gi, cpu, mem, json!({}))
}

pub fn deployment(namespace: &str, name: &str) -> WorkloadRef {
    WorkloadRef {
        kind: "Deployment".to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    }
}

/// A pod of Deployment `app` (label `app=<app>`), started an hour ago, requesting
/// `cpu_milli`/`mem_mi` and really using `use_cores`/`use_mi`.
pub fn pod(key: &str, node: &str, app: &str, req: (i64, i64), used: (f64, f64)) -> PodState {
    pod_with(key, node, app, req, Some(used), json!({}), json!({}))
}

/// [`pod`] with extra `spec` fields (tolerations, volumes) and annotations.
pub fn pod_with(
    key: &str,
    node: &str,
    app: &str,
    (cpu_milli, mem_mi): (i64, i64),
    used: Option<(f64, f64)>,
    spec: Value,
    annotations: Value,
) -> PodState {
    let (namespace, name) = key.split_once('/').unwrap_or(("default", key));
    let mut spec_json = json!({
        "nodeName": node,
        "containers": [{"name": "c", "image": "x", "resources": {"requests": {
            "cpu": format!("{cpu_milli}m"), "memory": format!("{mem_mi}Mi")}}}],
    });
    if let (Some(target), Value::Object(extra)) = (spec_json.as_object_mut(), spec) {
        target.extend(extra);
    }
    let pod: SlimPod = parse(json!({
        "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}"),
            "labels": {"app": app}, "annotations": annotations},
        "spec": spec_json,
    }));
    PodState {
        pod: KeptPod::from(pod),
        key: PodKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
        },
        uid: format!("uid-{name}"),
        node: node.to_string(),
        owner: Owner::Workload(deployment(namespace, app)),
        priority: 0,
        qos: Qos::Burstable,
        requests: Resources {
            cpu_milli,
            memory_bytes: mem_mi * MI,
        },
        usage: used.map(|(cpu_cores, mi)| PodUsage {
            cpu_cores,
            memory_bytes: mi * MI as f64,
        }),
        created_at: now() - Duration::from_secs(3600),
    }
}

pub fn budget(namespace: &str, name: &str, selector: Option<Value>, allowed: i32) -> Budget {
    Budget {
        namespace: namespace.to_string(),
        name: name.to_string(),
        selector: selector.map(parse::<LabelSelector>),
        disruptions_allowed: allowed,
    }
}

/// A snapshot whose every workload has `desired` replicas, all ready.
pub fn snapshot(nodes: Vec<NodeState>, pods: Vec<PodState>, desired: i32) -> ClusterSnapshot {
    let workloads = pods
        .iter()
        .filter_map(|p| match &p.owner {
            Owner::Workload(w) => Some((
                w.clone(),
                Replicas {
                    desired,
                    ready: desired,
                },
            )),
            _ => None,
        })
        .collect();
    ClusterSnapshot {
        now: now(),
        nodes,
        pods,
        budgets: Vec::new(),
        workloads,
    }
}

/// The cluster as the plan leaves it: evicted pods on their destinations, and each
/// node's sustained and recent load moved by their real usage.
pub fn apply(snapshot: &ClusterSnapshot, plan: &Plan) -> ClusterSnapshot {
    let mut next = snapshot.clone();
    for eviction in &plan.evictions {
        let u = eviction.usage;
        for node in &mut next.nodes {
            let sign = if node.name == eviction.from {
                -1.0
            } else if node.name == eviction.to {
                1.0
            } else {
                continue;
            };
            if let Some(s) = &mut node.sustained {
                s.cpu_cores += sign * u.cpu_cores;
                s.memory_bytes += sign * u.memory_bytes;
            }
            if let Some(r) = &mut node.recent {
                for (usage, delta) in [
                    (&mut r.cpu_cores, u.cpu_cores),
                    (&mut r.memory_bytes, u.memory_bytes),
                ] {
                    usage.average += sign * delta;
                    usage.peak += sign * delta;
                }
            }
        }
        if let Some(pod) = next.pods.iter_mut().find(|p| p.key == eviction.pod) {
            pod.node = eviction.to.clone();
        }
    }
    next
}

/// A random cluster, policy and cooldown record.
#[derive(Debug, Clone)]
pub struct Case {
    pub snapshot: ClusterSnapshot,
    pub policy: Policy,
    pub cooldowns: BTreeMap<WorkloadRef, SystemTime>,
}

const APPS: [&str; 6] = ["web", "api", "db", "cache", "queue", "batch"];
const NAMESPACES: [&str; 2] = ["shop", "ops"];

fn arb_node(i: usize) -> impl Strategy<Value = NodeState> {
    (
        prop::sample::select(vec![2i64, 4, 8]),
        prop::sample::select(vec![4i64, 8, 16]),
        0.0..1.1f64,
        0.0..1.1f64,
        0..20u8,
    )
        .prop_map(move |(cores, gi, cpu, mem, flag)| {
            let spec = match flag {
                0 => json!({"unschedulable": true}),
                1 => json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}),
                _ => json!({}),
            };
            let mut n = node_with(&format!("node-{i:02}"), cores, gi, cpu, mem, spec);
            match flag {
                2 => n.sustained = None,
                3 => {
                    if let Some(s) = &mut n.sustained {
                        s.sampled_at = now() - Duration::from_secs(3600);
                    }
                }
                4 => {
                    if let Some(status) = &mut n.node.status {
                        status.conditions = None;
                    }
                }
                _ => {}
            }
            n
        })
}

fn arb_pod(i: usize, nodes: usize) -> impl Strategy<Value = PodState> {
    (
        (0..nodes, 0..APPS.len(), 0..NAMESPACES.len(), 0..12u8),
        (0..1000i64, 0..1024i64, 0.0..0.8f64, 0.0..1024.0f64),
        (
            prop::sample::select(vec![0, 0, 0, 100, 100, 2_000_000_000]),
            0..3u8,
            0..7200u64,
            0..20u8,
        ),
    )
        .prop_map(
            move |((n, app, ns, owner), (cpu, mem, ucpu, umem), (priority, qos, age, flag))| {
                let key = format!("{}/{}-{i}", NAMESPACES[ns], APPS[app]);
                let used = (flag != 0).then_some((ucpu, umem));
                let (spec, annotations) = match flag {
                    1 => (
                        json!({"volumes": [{"name": "scratch", "emptyDir": {}}]}),
                        json!({}),
                    ),
                    2 => (json!({}), json!({"tidal.io/no-evict": "true"})),
                    3 => (
                        json!({"tolerations": [{"key": "dedicated", "operator": "Exists"}]}),
                        json!({}),
                    ),
                    _ => (json!({}), json!({})),
                };
                let mut p = pod_with(
                    &key,
                    &format!("node-{n:02}"),
                    APPS[app],
                    (cpu, mem),
                    used,
                    spec,
                    annotations,
                );
                p.owner = match owner {
                    0 => Owner::DaemonSet("logs".to_string()),
                    1 => Owner::Mirror,
                    2 => Owner::Bare,
                    _ => p.owner,
                };
                p.priority = priority;
                p.qos = [Qos::BestEffort, Qos::Burstable, Qos::Guaranteed][usize::from(qos)];
                p.created_at = now() - Duration::from_secs(age);
                p
            },
        )
}

fn arb_budget(i: usize) -> impl Strategy<Value = Budget> {
    (0..APPS.len(), 0..NAMESPACES.len(), 0..4u8, 0..3i32).prop_map(move |(app, ns, kind, allowed)| {
        let selector = match kind {
            0 => None,
            1 => Some(json!({"matchExpressions": [{"key": "app", "operator": "In", "values": [APPS[app]]}]})),
            _ => Some(json!({"matchLabels": {"app": APPS[app]}})),
        };
        budget(NAMESPACES[ns], &format!("pdb-{i}"), selector, allowed)
    })
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    (
        (1..5u32, 1..10u32, 1..4u32, 1..20u32),
        prop::sample::select(vec![0.0, 0.5, 0.75]),
        any::<bool>(),
        any::<bool>(),
        0..4u8,
    )
        .prop_map(
            |((per_node, per_namespace, per_workload, total), floor, single, local, mode)| {
                let mut p = Policy {
                    limits: Limits {
                        per_node,
                        per_namespace,
                        per_workload,
                        total,
                    },
                    availability_floor: floor,
                    allow_single_replica: single,
                    allow_local_storage: local,
                    ..Policy::default()
                };
                if mode == 0 {
                    let c = &mut p.classification;
                    c.mode = ThresholdMode::Deviation;
                    c.hot = Fractions {
                        cpu: 0.2,
                        memory: 0.2,
                    };
                    c.target = Fractions {
                        cpu: 0.1,
                        memory: 0.1,
                    };
                    c.cold = Fractions {
                        cpu: 0.1,
                        memory: 0.1,
                    };
                }
                p
            },
        )
}

pub fn arb_case() -> impl Strategy<Value = Case> {
    (2..=12usize, 0..=60usize, 0..4usize)
        .prop_flat_map(|(n, p, b)| {
            (
                (0..n).map(arb_node).collect::<Vec<_>>(),
                (0..p).map(|i| arb_pod(i, n)).collect::<Vec<_>>(),
                (0..b).map(arb_budget).collect::<Vec<_>>(),
                arb_policy(),
                prop::collection::vec(
                    (1..8i32, 0..6i32, 0..12_000u64),
                    APPS.len() * NAMESPACES.len(),
                ),
            )
        })
        .prop_map(|(nodes, pods, budgets, policy, replicas)| {
            let mut workloads = BTreeMap::new();
            let mut cooldowns = BTreeMap::new();
            for (i, (desired, missing, since)) in replicas.into_iter().enumerate() {
                let w = deployment(NAMESPACES[i % NAMESPACES.len()], APPS[i / NAMESPACES.len()]);
                // Mostly all ready, sometimes one short, so the floor bites now and then.
                let ready = desired - i32::from(missing == 1);
                workloads.insert(w.clone(), Replicas { desired, ready });
                if since < 2000 {
                    cooldowns.insert(w, now() - Duration::from_secs(since));
                }
            }
            Case {
                snapshot: ClusterSnapshot {
                    now: now(),
                    nodes,
                    pods,
                    budgets,
                    workloads,
                },
                policy,
                cooldowns,
            }
        })
}
