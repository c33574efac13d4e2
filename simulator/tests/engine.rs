//! The replay end to end on small generated traces: every policy runs, results are
//! deterministic, and the Tidal policies beat placement by requests where they should.

use std::collections::BTreeMap;
use std::time::Duration;

use tidal_core::resources::{PodLimits, Resources};
use tidal_simulator::engine::{Options, simulate};
use tidal_simulator::outcome::Report;
use tidal_simulator::policy::Policy;
use tidal_simulator::trace::{Amount, Kind, NodeSpec, Pdb, Shape, Trace, WorkloadSpec};

const GI: i64 = 1 << 30;

fn node(i: usize) -> NodeSpec {
    NodeSpec {
        name: format!("node-{i:02}"),
        allocatable: Resources {
            cpu_milli: 8000,
            memory_bytes: 32 * GI,
        },
        max_pods: 110,
        labels: BTreeMap::new(),
        taints: Vec::new(),
    }
}

fn daily(steps: usize, low: f64, high: f64, phase: usize) -> Shape {
    let values = (0..steps)
        .map(|s| {
            let x = ((s + phase) % 1440) as f64 / 1440.0 * std::f64::consts::TAU;
            (low + (high - low) * (0.5 - 0.5 * x.cos())) as f32
        })
        .collect();
    Shape::new(values, 0.1)
}

fn workload(name: &str, replicas: u32, cpu_request: i64, cpu: Shape) -> WorkloadSpec {
    WorkloadSpec {
        namespace: "shop".to_string(),
        name: name.to_string(),
        kind: Kind::Deployment,
        replicas,
        priority: 0,
        requests: Resources {
            cpu_milli: cpu_request,
            memory_bytes: GI,
        },
        limits: PodLimits::default(),
        cpu,
        memory: Shape::constant(0.5 * GI as f64),
        pdb: Some(Pdb::MaxUnavailable(Amount::Count(1))),
        restart_every: Some(720),
        hpa: None,
        cron: None,
        node_selector: BTreeMap::new(),
        tolerations: Vec::new(),
    }
}

/// Ten nodes; an under-requested service (asks 0.5 core, uses up to 3) beside
/// over-requested ones, so placement by requests makes hot nodes.
fn trace(seed: u64) -> Trace {
    let steps = 1440;
    Trace {
        step: Duration::from_secs(60),
        steps,
        seed,
        nodes: (0..10).map(node).collect(),
        workloads: vec![
            workload("api", 12, 500, daily(steps, 0.4, 3.0, 0)),
            workload("search", 8, 500, daily(steps, 0.3, 1.8, 300)),
            workload("reports", 10, 3000, daily(steps, 0.2, 0.6, 700)),
            workload("cache", 10, 1500, daily(steps, 0.2, 0.4, 0)),
        ],
        placement: None,
    }
}

fn run(trace: &Trace, policies: &[Policy]) -> Report {
    simulate(trace, "test", policies, &Options::default(), &|_, _, _| {})
}

fn outcome<'r>(report: &'r Report, name: &str) -> &'r tidal_simulator::outcome::PolicyOutcome {
    report
        .policies
        .iter()
        .find(|p| p.policy == name)
        .unwrap_or_else(|| panic!("no {name} in the report"))
}

#[test]
fn every_policy_replays_and_the_oracle_bounds_them() {
    let report = run(&trace(7), &Policy::defaults(false));
    for p in &report.policies {
        eprintln!(
            "{:<28} hot {:>7.0} p99 {:.2} spread {:.3} evictions {:>3} pending {:>5.0} repeated {}",
            p.policy,
            p.hot_node_minutes,
            p.node_cpu_p99,
            p.cpu_spread,
            p.evictions,
            p.pending_pod_minutes,
            p.repeated_moves
        );
    }
    let requests = outcome(&report, "requests");
    let oracle = outcome(&report, "oracle");
    assert!(
        requests.hot_node_minutes > 0.0,
        "the trace must make hot nodes"
    );
    assert!(
        oracle.hot_node_minutes < requests.hot_node_minutes,
        "oracle {} vs requests {}",
        oracle.hot_node_minutes,
        requests.hot_node_minutes
    );
    for p in &report.policies {
        assert_eq!(p.node_hours, 10.0 * 24.0, "{}", p.policy);
        assert!(p.replica_hours > 0.0, "{}", p.policy);
    }
    assert_eq!(outcome(&report, "requests").evictions, 0);
    assert_eq!(outcome(&report, "oracle").evictions, 0);
}

#[test]
fn same_trace_and_seed_give_the_same_figures() {
    let policies = [Policy::Requests, Policy::TidalDescheduler];
    let a = serde_json::to_value(run(&trace(3), &policies).policies).unwrap();
    let b = serde_json::to_value(run(&trace(3), &policies).policies).unwrap();
    let strip = |mut v: serde_json::Value| {
        for p in v.as_array_mut().unwrap() {
            p.as_object_mut().unwrap().remove("wall_seconds");
        }
        v
    };
    assert_eq!(strip(a), strip(b));
}

mod guards_hold_across_a_replay {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A random small cluster: a few nodes, workloads with drawn requests, usage and PDBs.
    fn random_trace() -> impl Strategy<Value = Trace> {
        let shape = (1u32..8, 100i64..2000, 0.1f64..2.5, 0usize..1440, 0u8..3);
        (
            3usize..7,
            proptest::collection::vec(shape, 2..7),
            any::<u64>(),
        )
            .prop_map(|(nodes, workloads, seed)| {
                let steps = 360;
                Trace {
                    step: Duration::from_secs(60),
                    steps,
                    seed,
                    nodes: (0..nodes).map(node).collect(),
                    workloads: workloads
                        .into_iter()
                        .enumerate()
                        .map(|(i, (replicas, request, peak, phase, pdb))| {
                            let mut w = workload(
                                &format!("w{i}"),
                                replicas,
                                request,
                                daily(steps, 0.05, peak, phase),
                            );
                            w.pdb = match pdb {
                                0 => None,
                                1 => Some(Pdb::MaxUnavailable(Amount::Count(1))),
                                _ => Some(Pdb::MinAvailable(Amount::Percent(50))),
                            };
                            w.restart_every = None;
                            w
                        })
                        .collect(),
                    placement: None,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn budgets_limits_and_cooldowns(trace in random_trace()) {
            let policies = [Policy::TidalDescheduler, Policy::LowNodeUtilization];
            let report = run(&trace, &policies);
            let limits = tidal_descheduler::policy::Policy::default();
            for outcome in &report.policies {
                let mut per_run: BTreeMap<usize, Vec<&tidal_simulator::outcome::Move>> = BTreeMap::new();
                for m in &outcome.moves {
                    // The Eviction API never lets a run spend more than the budget allowed.
                    if let Some(allowed) = m.allowed {
                        prop_assert!(m.spent <= allowed, "{}: {m:?}", outcome.policy);
                    }
                    per_run.entry(m.step).or_default().push(m);
                }
                if outcome.policy != "tidal+descheduler" {
                    continue;
                }
                let mut last: BTreeMap<&str, usize> = BTreeMap::new();
                for (step, moves) in &per_run {
                    prop_assert!(moves.len() as u32 <= limits.limits.total);
                    let mut per_node: BTreeMap<&str, u32> = BTreeMap::new();
                    let mut per_workload: BTreeMap<&str, u32> = BTreeMap::new();
                    for m in moves {
                        *per_node.entry(&m.node).or_default() += 1;
                        *per_workload.entry(&m.workload).or_default() += 1;
                        if let Some(&before) = last.get(m.workload.as_str()) {
                            let minutes = (step - before) as u64;
                            prop_assert!(
                                minutes * 60 >= limits.cooldown.as_secs(),
                                "{} moved again after {minutes} min", m.workload
                            );
                        }
                    }
                    prop_assert!(per_node.values().all(|&n| n <= limits.limits.per_node));
                    prop_assert!(per_workload.values().all(|&n| n <= limits.limits.per_workload));
                    for m in moves {
                        last.insert(&m.workload, *step);
                    }
                }
            }
        }
    }
}
