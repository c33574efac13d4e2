//! Descheduler planning at cluster scale: 1,000 nodes / 30,000 pods and 5,000 nodes /
//! 150,000 pods, one node in ten hot, four in ten cold. Figures in BENCHMARKS.md.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;
use tidal_core::load::{NodeLoad, Usage};
use tidal_core::resources::Resources;
use tidal_core::scoring::{MissingMetrics, Scorer, Thresholds, Weights};
use tidal_core::usage::{PodUsage, SustainedLoad};
use tidal_descheduler::model::{
    Budget, ClusterSnapshot, KeptPod, NodeState, Owner, PodKey, PodState, Qos, Replicas,
    WorkloadRef,
};
use tidal_descheduler::plan::plan;
use tidal_descheduler::policy::Policy;
use tidal_descheduler::slim::SlimNode;

const PODS_PER_NODE: usize = 30;
const REPLICAS: usize = 6;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn cluster(nodes: usize, now: SystemTime) -> ClusterSnapshot {
    let node_states = (0..nodes).map(|i| node(i, now)).collect();
    let mut pods = Vec::with_capacity(nodes * PODS_PER_NODE);
    let mut workloads = BTreeMap::new();
    let mut budgets = Vec::new();
    for i in 0..nodes * PODS_PER_NODE {
        let w = i / REPLICAS;
        let workload = WorkloadRef {
            kind: "Deployment".into(),
            namespace: format!("ns-{}", w % 50),
            name: format!("app-{w}"),
        };
        if i % REPLICAS == 0 {
            workloads.insert(
                workload.clone(),
                Replicas {
                    desired: REPLICAS as i32,
                    ready: REPLICAS as i32,
                },
            );
            budgets.push(Budget {
                namespace: workload.namespace.clone(),
                name: workload.name.clone(),
                selector: serde_json::from_value(json!({"matchLabels": {"app": workload.name}}))
                    .ok(),
                disruptions_allowed: 1,
            });
        }
        // Replicas of one workload land on different nodes, as spreading would place them.
        let on = (i * 7919) % nodes;
        pods.push(pod(i, on, workload, now));
    }
    ClusterSnapshot {
        now,
        nodes: node_states,
        pods,
        budgets,
        workloads,
    }
}

/// One node in ten hot (90 % CPU), four in ten cold (30 %), the rest in between.
fn busy(i: usize) -> f64 {
    match i % 10 {
        0 => 0.9,
        1..=4 => 0.3,
        _ => 0.6,
    }
}

fn node(i: usize, now: SystemTime) -> NodeState {
    let name = format!("node-{i:05}");
    let node: SlimNode = serde_json::from_value(json!({
        "metadata": {"name": name},
        "status": {"allocatable": {"cpu": "16", "memory": "64Gi"}, "conditions": [{"type": "Ready", "status": "True"}]},
    }))
    .expect("node JSON is valid");
    let (cores, memory) = (16.0 * busy(i), 64.0 * GIB * 0.5);
    NodeState {
        node,
        name,
        allocatable: Resources {
            cpu_milli: 16_000,
            memory_bytes: 64 << 30,
        },
        sustained: Some(SustainedLoad {
            cpu_cores: cores,
            memory_bytes: memory,
            sampled_at: now,
        }),
        recent: Some(NodeLoad {
            cpu_cores: Usage {
                average: cores,
                peak: cores,
            },
            memory_bytes: Usage {
                average: memory,
                peak: memory,
            },
            capacity: None,
            sampled_at: now,
        }),
        unlisted_requests: Resources::default(),
    }
}

fn pod(i: usize, on: usize, workload: WorkloadRef, now: SystemTime) -> PodState {
    let key = PodKey {
        namespace: workload.namespace.clone(),
        name: format!("{}-{i}", workload.name),
    };
    let pod = KeptPod {
        labels: BTreeMap::from([("app".to_string(), workload.name.clone())]).into(),
        ..KeptPod::default()
    };
    // A node's pods share its load.
    let cpu = 16.0 * busy(on) / PODS_PER_NODE as f64;
    PodState {
        pod,
        uid: format!("uid-{i}"),
        node: format!("node-{on:05}"),
        owner: Owner::Workload(workload),
        priority: (i % 3) as i32 * 100,
        qos: Qos::Burstable,
        requests: Resources {
            cpu_milli: 250,
            memory_bytes: 512 << 20,
        },
        usage: Some(PodUsage {
            cpu_cores: cpu,
            memory_bytes: 64.0 * GIB * 0.5 / PODS_PER_NODE as f64,
        }),
        created_at: now - Duration::from_secs(86_400),
        key,
    }
}

fn planning(c: &mut Criterion) {
    let now = SystemTime::now();
    let scorer = Scorer {
        thresholds: Thresholds::default(),
        weights: Weights::default(),
        max_age: Duration::from_secs(120),
        on_missing: MissingMetrics::FailClosed,
    };
    let policy = Policy::default();
    let cooldowns = BTreeMap::new();
    let mut group = c.benchmark_group("descheduler_plan");
    group.sample_size(10);
    for nodes in [1_000, 5_000] {
        let snapshot = cluster(nodes, now);
        let result = plan(&snapshot, &policy, &scorer, &cooldowns);
        println!(
            "{nodes} nodes / {} pods: {} evictions planned, {} pods skipped",
            snapshot.pods.len(),
            result.evictions.len(),
            result.skipped.len()
        );
        let id = BenchmarkId::new("nodes_pods", format!("{nodes}/{}", snapshot.pods.len()));
        group.bench_with_input(id, &snapshot, |b, snapshot| {
            b.iter(|| plan(snapshot, &policy, &scorer, &cooldowns));
        });
    }
    group.finish();
}

criterion_group!(benches, planning);
criterion_main!(benches);
