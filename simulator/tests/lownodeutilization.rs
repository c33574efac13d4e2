//! Hand-computed cases for the LowNodeUtilization model.
//!
//! Unless a test says otherwise, every node has 4000m CPU, 16 GiB memory and 100
//! pod slots. Under the README's example thresholds (20/20/20 → 50/50/50) the
//! target caps are then int(50 × 0.01 × 4000) = 2000m CPU, 8 GiB memory and 50 pods.

use tidal_core::resources::Resources;
use tidal_simulator::lownodeutilization::{
    Classification, ConfigError, LnuConfig, LnuNode, LnuPod, Mode, PodFacts, Qos,
    SYSTEM_CRITICAL_PRIORITY, Thresholds, classify, default_evictor_allows, plan,
    plan_with_tolerations,
};

const GIB: i64 = 1 << 30;
const MIB: i64 = 1 << 20;

fn res(cpu_milli: i64, memory_bytes: i64) -> Resources {
    Resources {
        cpu_milli,
        memory_bytes,
    }
}

fn node(requested: Resources, usage: Resources, pods: u32) -> LnuNode {
    LnuNode {
        allocatable: res(4000, 16 * GIB),
        max_pods: 100,
        requested,
        usage,
        pods,
        schedulable: true,
    }
}

/// A pod whose real usage equals its requests.
fn pod(id: usize, node: usize, priority: i32, qos: Qos, requests: Resources) -> LnuPod {
    LnuPod {
        id,
        node,
        priority,
        qos,
        evictable: true,
        requests,
        usage: requests,
    }
}

/// node0 is hot, node1 cold, node2 in between:
/// - node0: 3000m (75%), 4 GiB (25%), 5 pods (5%). Over target, because CPU 75 > 50.
/// - node1:  400m (10%), 1 GiB (6.25%), 2 pods (2%). Under on all three (≤ 20).
/// - node2: 1600m (40%), 4 GiB (25%), 4 pods (4%). Neither: CPU 40 > 20 and ≤ 50.
fn three_nodes() -> Vec<LnuNode> {
    vec![
        node(res(3000, 4 * GIB), res(3000, 4 * GIB), 5),
        node(res(400, GIB), res(400, GIB), 2),
        node(res(1600, 4 * GIB), res(1600, 4 * GIB), 4),
    ]
}

/// The pods of node0 (their requests add up to 3000m and 4 GiB), plus one
/// low-priority pod on each of the other nodes, which must never be chosen.
fn three_node_pods() -> Vec<LnuPod> {
    vec![
        pod(0, 0, 100, Qos::Guaranteed, res(1000, GIB)),
        pod(1, 0, 0, Qos::Burstable, res(500, GIB)),
        pod(2, 0, 0, Qos::BestEffort, res(0, 0)),
        pod(3, 0, 0, Qos::Guaranteed, res(1000, GIB)),
        pod(4, 0, 1000, Qos::Burstable, res(500, GIB)),
        pod(10, 1, -10, Qos::BestEffort, res(0, 0)),
        pod(20, 2, -10, Qos::BestEffort, res(0, 0)),
    ]
}

#[test]
fn three_nodes_evict_lowest_priority_then_best_effort_until_below_target() {
    let nodes = three_nodes();
    let config = LnuConfig::requests();
    assert_eq!(
        classify(&nodes, &config),
        Classification {
            underutilized: vec![1],
            overutilized: vec![0],
        }
    );
    // Order on node0 is priority 0 first, in QoS order: 2 (BestEffort), 1 (Burstable),
    // 3 (Guaranteed). Then 0 (priority 100), then 4 (priority 1000).
    //
    // Available room on node1 = target cap − usage: CPU 2000 − 400 = 1600,
    // memory 8 − 1 = 7 GiB, pods 50 − 2 = 48.
    // - evict 2 (0m): node0 stays at 3000m > 2000  → go on   (room 1600m, 7 GiB, 47)
    // - evict 1 (500m): node0 at 2500m > 2000      → go on   (room 1100m, 6 GiB, 46)
    // - evict 3 (1000m): node0 at 1500m ≤ 2000, 2 GiB ≤ 8 GiB, 2 pods ≤ 50 → stop.
    assert_eq!(plan(&nodes, &three_node_pods(), &config), vec![2, 1, 3]);
}

#[test]
fn nothing_when_no_node_is_underutilized() {
    let mut nodes = three_nodes();
    // node1 moves to 1000m = 25% CPU, which is above the 20% threshold.
    nodes[1].requested = res(1000, GIB);
    let config = LnuConfig::requests();
    assert!(classify(&nodes, &config).underutilized.is_empty());
    assert!(plan(&nodes, &three_node_pods(), &config).is_empty());
}

#[test]
fn nothing_when_underutilized_count_is_not_above_number_of_nodes() {
    let nodes = three_nodes();
    let config = LnuConfig {
        number_of_nodes: 1,
        ..LnuConfig::requests()
    };
    // 1 underutilized node ≤ numberOfNodes 1, so nothing happens.
    assert!(plan(&nodes, &three_node_pods(), &config).is_empty());

    // A second cold node (a copy of node1) makes 2 > 1, so the plugin acts.
    // The room doubles (CPU 3200m), and the stop is still reached on node0: 2, 1, 3.
    let mut four = nodes;
    four.push(four[1]);
    assert_eq!(plan(&four, &three_node_pods(), &config), vec![2, 1, 3]);
}

#[test]
fn nothing_when_the_only_cold_node_is_unschedulable() {
    let mut nodes = three_nodes();
    nodes[1].schedulable = false;
    let config = LnuConfig::requests();
    // An unschedulable node fails the under test. It is not over target either.
    assert_eq!(
        classify(&nodes, &config),
        Classification {
            underutilized: vec![],
            overutilized: vec![0],
        }
    );
    assert!(plan(&nodes, &three_node_pods(), &config).is_empty());
}

#[test]
fn non_evictable_pods_are_never_chosen() {
    let nodes = three_nodes();
    let config = LnuConfig::requests();
    let mut pods = three_node_pods();
    for p in pods.iter_mut().filter(|p| p.id == 1 || p.id == 2) {
        p.evictable = false;
    }
    // The remaining order is 3, 0, 4. Evicting 3 (1000m) leaves node0 at 2000m.
    // 2000 < 2000 is false, memory 3 GiB ≤ 8 and pods 4 ≤ 50, so it stops.
    assert_eq!(plan(&nodes, &pods, &config), vec![3]);

    for p in &mut pods {
        p.evictable = false;
    }
    assert!(plan(&nodes, &pods, &config).is_empty());
}

/// The base case plus a second hot node, node3: 2400m (60%), 6 GiB (37.5%) and
/// 2 pods of 1200m / 3 GiB each (ids 30, 31).
///
/// Hot nodes are sorted by the sum of raw usage values, descending:
/// - node3: 2400 + 6 GiB + 2;
/// - node0: 3000 + 4 GiB + 5.
///
/// Memory bytes dominate, so node3 comes first.
fn two_hot_nodes() -> (Vec<LnuNode>, Vec<LnuPod>) {
    let mut nodes = three_nodes();
    nodes.push(node(res(2400, 6 * GIB), res(2400, 6 * GIB), 2));
    let mut pods = three_node_pods();
    pods.push(pod(30, 3, 0, Qos::Burstable, res(1200, 3 * GIB)));
    pods.push(pod(31, 3, 0, Qos::Burstable, res(1200, 3 * GIB)));
    (nodes, pods)
}

#[test]
fn cold_nodes_spare_capacity_bounds_the_total_moved() {
    let (nodes, pods) = two_hot_nodes();
    let config = LnuConfig::requests();
    // The room on node1 starts at CPU 1600, memory 7 GiB, pods 48.
    // - node3, evict 30: node3 is at 1200m ≤ 2000 and stops; room is now 400m, 4 GiB, 47.
    // - node0, evict 2 (0m): room is still 400m.
    // - node0, evict 1 (500m): room is 400 − 500 = −100 ≤ 0, so it stops, although
    //   node0 is still at 2500m, above its 2000m target.
    assert_eq!(plan(&nodes, &pods, &config), vec![30, 2, 1]);

    // With node1 at 800m (still 20% ≤ 20), the room starts at 2000 − 800 = 1200m.
    // Evicting 30 uses all of it (0 left), so node0's first check fails at once.
    let mut tight = nodes;
    tight[1].requested = res(800, GIB);
    assert_eq!(plan(&tight, &pods, &config), vec![30]);
}

#[test]
fn limits_per_node_and_total_are_respected() {
    let nodes = three_nodes();
    let pods = three_node_pods();

    // The plugin's evictionLimits.node caps each node at 1.
    let plugin_node = LnuConfig {
        eviction_limit_node: Some(1),
        ..LnuConfig::requests()
    };
    assert_eq!(plan(&nodes, &pods, &plugin_node), vec![2]);

    // The policy's maxNoOfPodsToEvictPerNode caps each node at 2.
    let policy_node = LnuConfig {
        max_evictions_per_node: Some(2),
        ..LnuConfig::requests()
    };
    assert_eq!(plan(&nodes, &pods, &policy_node), vec![2, 1]);

    let total = LnuConfig {
        max_evictions_total: Some(2),
        ..LnuConfig::requests()
    };
    assert_eq!(plan(&nodes, &pods, &total), vec![2, 1]);

    // Two hot nodes. Unlimited, the result is 30, 2, 1 (see the test above).
    let (nodes, pods) = two_hot_nodes();
    // One per node: 30 from node3, then 2 from node0.
    assert_eq!(plan(&nodes, &pods, &plugin_node), vec![30, 2]);
    let one_per_node = LnuConfig {
        max_evictions_per_node: Some(1),
        ..LnuConfig::requests()
    };
    assert_eq!(plan(&nodes, &pods, &one_per_node), vec![30, 2]);
    // The total limit ends the whole run, even though node0 would still evict.
    let one_total = LnuConfig {
        max_evictions_total: Some(1),
        ..LnuConfig::requests()
    };
    assert_eq!(plan(&nodes, &pods, &one_total), vec![30]);
}

#[test]
fn pods_must_tolerate_some_underutilized_node() {
    let nodes = three_nodes();
    let pods = three_node_pods();
    let config = LnuConfig::requests();
    // Pod 2 does not tolerate node1's taints, and node1 is the only destination.
    let tolerates = |p: &LnuPod, n: usize| !(p.id == 2 && n == 1);
    // Skip 2. Evict 1 (node0 at 2500m, go on), then 3 (1500m, stop).
    assert_eq!(
        plan_with_tolerations(&nodes, &pods, &config, tolerates),
        vec![1, 3]
    );

    // A second cold node (index 3) that pod 2 does tolerate is enough.
    let mut four = nodes;
    four.push(four[1]);
    assert_eq!(
        plan_with_tolerations(&four, &pods, &config, tolerates),
        vec![2, 1, 3]
    );
}

/// Requests and real usage disagree:
/// - nA: requests 3600m (90%) but uses 400m (10%);
/// - nB: requests 1000m (25%) but uses 3000m (75%);
/// - nC: requests 400m (10%) and uses 1200m (30%).
///
/// All three hold 1 GiB of memory and 2 or 3 pods.
fn usage_vs_requests() -> (Vec<LnuNode>, Vec<LnuPod>) {
    let nodes = vec![
        node(res(3600, GIB), res(400, GIB), 2),
        node(res(1000, GIB), res(3000, 2 * GIB), 3),
        node(res(400, GIB), res(1200, GIB), 2),
    ];
    let with_usage = |mut p: LnuPod, usage: Resources| {
        p.usage = usage;
        p
    };
    let pods = vec![
        with_usage(pod(0, 0, 0, Qos::Burstable, res(1800, 0)), res(200, 0)),
        with_usage(pod(1, 0, 0, Qos::Burstable, res(1800, 0)), res(200, 0)),
        with_usage(
            pod(10, 1, 0, Qos::BestEffort, res(0, 0)),
            res(500, 512 * MIB),
        ),
        with_usage(
            pod(11, 1, 0, Qos::Burstable, res(500, 0)),
            res(700, 512 * MIB),
        ),
        with_usage(
            pod(12, 1, 100, Qos::Guaranteed, res(500, 0)),
            res(1800, GIB),
        ),
    ];
    (nodes, pods)
}

#[test]
fn real_usage_classifies_by_usage_not_requests() {
    let (nodes, pods) = usage_vs_requests();

    // Requests: nA (90% CPU) is the source and nC (10%, 6.25%, 2%) the destination.
    // Evicting pod 0 (1800m) brings nA to 1800m ≤ 2000 and it stops.
    let requests = LnuConfig::requests();
    assert_eq!(
        classify(&nodes, &requests),
        Classification {
            underutilized: vec![2],
            overutilized: vec![0],
        }
    );
    assert_eq!(plan(&nodes, &pods, &requests), vec![0]);

    // Prometheus: the figures are int(0.1 × 100) = 10, int(0.75 × 100) = 75 and
    // int(0.3 × 100) = 30. Against 20 / 50, nA is the *destination* and nB the source.
    let real = LnuConfig::real_usage();
    assert_eq!(
        classify(&nodes, &real),
        Classification {
            underutilized: vec![0],
            overutilized: vec![1],
        }
    );
    // Pod usage cannot be measured, so exactly one pod goes: the lowest in order,
    // pod 10 (priority 0, BestEffort). nB stays at 75% for this cycle.
    assert_eq!(plan(&nodes, &pods, &real), vec![10]);

    // evictionLimits.node = 2 lifts the cap to 2 "blind" evictions, with no stop test.
    let two = LnuConfig {
        eviction_limit_node: Some(2),
        ..LnuConfig::real_usage()
    };
    assert_eq!(plan(&nodes, &pods, &two), vec![10, 11]);
    // The policy limits still apply.
    let policy_one = LnuConfig {
        max_evictions_per_node: Some(1),
        ..two
    };
    assert_eq!(plan(&nodes, &pods, &policy_one), vec![10]);
}

#[test]
fn metrics_server_mode_subtracts_real_pod_usage() {
    let (nodes, pods) = usage_vs_requests();
    let config = LnuConfig::metrics_server();
    // Real usage:
    // - nA: 10% CPU, 6.25% memory, 2% pods → under;
    // - nB: 75% CPU → over;
    // - nC: 30% CPU → neither.
    assert_eq!(
        classify(&nodes, &config),
        Classification {
            underutilized: vec![0],
            overutilized: vec![1],
        }
    );
    // Room on nA: CPU 2000 − 400 = 1600, memory 8 − 1 = 7 GiB, pods 48.
    // - evict 10 (uses 500m): nB at 2500m > 2000   → go on (room 1100m)
    // - evict 11 (uses 700m): nB at 1800m ≤ 2000, memory 1 GiB ≤ 8 → stop.
    // Subtracting the *requests* instead (0m, then 500m) would leave nB at
    // 2500m, still above target.
    assert_eq!(plan(&nodes, &pods, &config), vec![10, 11]);
}

#[test]
fn deviation_thresholds_are_relative_to_the_mean() {
    let nodes = three_nodes();
    let pods = three_node_pods();
    // Static CPU 10 / 80: node0 at 75% is not above 80, so nothing happens.
    let static_config = LnuConfig {
        thresholds: Thresholds::cpu(10.0),
        target_thresholds: Thresholds::cpu(80.0),
        ..LnuConfig::requests()
    };
    assert!(plan(&nodes, &pods, &static_config).is_empty());

    // Deviation 10 / 10 from the mean CPU percentage: (75 + 10 + 40) / 3 = 41.67.
    // - low = 31.67: node1 (10%) is under;
    // - high = 51.67: node0 (75%) is over; node2 (40%) is neither.
    // node0's CPU cap is int(51.67 × 0.01 × 4000) = 2066. Memory and pods are
    // unlisted, so their caps are the full capacity.
    // Eviction: 2 → 3000m, 1 → 2500m > 2066, 3 → 1500m ≤ 2066 → stop.
    let deviation = LnuConfig {
        thresholds: Thresholds::cpu(10.0),
        target_thresholds: Thresholds::cpu(10.0),
        use_deviation_thresholds: true,
        ..LnuConfig::requests()
    };
    assert_eq!(
        classify(&nodes, &deviation),
        Classification {
            underutilized: vec![1],
            overutilized: vec![0],
        }
    );
    assert_eq!(plan(&nodes, &pods, &deviation), vec![2, 1, 3]);
}

#[test]
fn invalid_arguments_evict_nothing() {
    let nodes = three_nodes();
    let pods = three_node_pods();
    let inverted = LnuConfig {
        thresholds: Thresholds::new(60.0, 60.0, 60.0),
        ..LnuConfig::requests()
    };
    assert_eq!(inverted.validate(), Err(ConfigError::ThresholdAboveTarget));
    assert!(plan(&nodes, &pods, &inverted).is_empty());

    let mismatched = LnuConfig {
        target_thresholds: Thresholds::cpu(50.0),
        ..LnuConfig::requests()
    };
    assert_eq!(mismatched.validate(), Err(ConfigError::DifferentResources));

    let prometheus_with_memory = LnuConfig {
        mode: Mode::RealUsage,
        ..LnuConfig::requests()
    };
    assert_eq!(
        prometheus_with_memory.validate(),
        Err(ConfigError::NotSingleMetric)
    );
    assert_eq!(LnuConfig::real_usage().validate(), Ok(()));
}

#[test]
fn default_evictor_protects_what_the_descheduler_protects() {
    let owned = PodFacts {
        has_owner: true,
        priority: Some(0),
        ..PodFacts::default()
    };
    assert!(default_evictor_allows(&owned));
    assert!(!default_evictor_allows(&PodFacts {
        daemonset: true,
        ..owned
    }));
    assert!(!default_evictor_allows(&PodFacts {
        mirror: true,
        ..owned
    }));
    assert!(!default_evictor_allows(&PodFacts {
        terminating: true,
        ..owned
    }));
    assert!(!default_evictor_allows(&PodFacts {
        has_owner: false,
        ..owned
    }));
    assert!(!default_evictor_allows(&PodFacts {
        local_storage: true,
        ..owned
    }));
    assert!(!default_evictor_allows(&PodFacts {
        priority: Some(SYSTEM_CRITICAL_PRIORITY),
        ..owned
    }));
    assert!(default_evictor_allows(&PodFacts {
        priority: Some(SYSTEM_CRITICAL_PRIORITY - 1),
        ..owned
    }));
}
