//! Hand-computed cases for the kube-scheduler default-profile model.
//!
//! Arithmetic follows the sources cited in `simulator/src/kube_scheduler.rs`:
//! LeastAllocated `(alloc - req) * 100 / alloc` per resource (integer), mean of cpu and
//! memory (integer); BalancedAllocation `trunc((1 - |f_cpu - f_mem| / 2) * 100)` on plain
//! requests; PodTopologySpread raw `count * ln(domains + 2) + (maxSkew - 1)` per
//! constraint, rounded, then `100 * (max + min - raw) / max`; weights Fit 1, Balanced 1,
//! Spread 2; extender `score * weight * 10`.

use std::collections::BTreeSet;

use tidal_core::resources::Resources;
use tidal_simulator::cluster::{NodeState, PodRequests};
use tidal_simulator::kube_scheduler::{
    Extender, KubeScheduler, SchedulerConfig, balanced_allocation, least_allocated,
    num_feasible_nodes_to_find,
};

const MI: i64 = 1 << 20;
const GI: i64 = 1 << 30;

fn res(cpu_milli: i64, memory_bytes: i64) -> Resources {
    Resources {
        cpu_milli,
        memory_bytes,
    }
}

fn pod(cpu_milli: i64, memory_bytes: i64) -> PodRequests {
    PodRequests::new(res(cpu_milli, memory_bytes))
}

/// A node of `alloc` with the given pods bound to it.
fn node(alloc: Resources, bound: &[PodRequests]) -> NodeState {
    let mut n = NodeState {
        allocatable: alloc,
        max_pods: 110,
        ..NodeState::default()
    };
    for p in bound {
        n.bind(p);
    }
    n
}

fn no_zone(_: usize) -> Option<&'static str> {
    None
}

fn no_pods(_: usize) -> u32 {
    0
}

/// The three nodes of the LeastAllocated / BalancedAllocation worked case.
fn three_nodes() -> Vec<NodeState> {
    vec![
        // A: 4000m / 8Gi with 1000m / 2Gi requested
        node(res(4000, 8 * GI), &[pod(1000, 2 * GI)]),
        // B: 4000m / 8Gi with 2000m / 1Gi requested
        node(res(4000, 8 * GI), &[pod(2000, GI)]),
        // C: 8000m / 8Gi, empty
        node(res(8000, 8 * GI), &[]),
    ]
}

fn schedule(
    sched: &mut KubeScheduler,
    p: &PodRequests,
    nodes: &[NodeState],
    eligible: &[bool],
) -> Option<usize> {
    sched.schedule(p, nodes, eligible, &no_pods, &no_zone, None)
}

#[test]
fn least_and_balanced_allocation_worked_case_picks_the_emptiest_balanced_node() {
    let nodes = three_nodes();
    let p = pod(1000, 2 * GI);

    // A: cpu (4000-2000)*100/4000 = 50, mem (8-4)*100/8 = 50 → (50+50)/2 = 50
    //    fractions 2000/4000 = 0.5, 4/8 = 0.5 → std 0 → 100
    assert_eq!(least_allocated(&nodes[0], &p), 50);
    assert_eq!(balanced_allocation(&nodes[0], &p), 100);
    // B: cpu (4000-3000)*100/4000 = 25, mem (8-3)*100/8 = 62 → (25+62)/2 = 43
    //    fractions 0.75, 0.375 → std 0.1875 → 81.25 → 81
    assert_eq!(least_allocated(&nodes[1], &p), 43);
    assert_eq!(balanced_allocation(&nodes[1], &p), 81);
    // C: cpu (8000-1000)*100/8000 = 87, mem (8-2)*100/8 = 75 → (87+75)/2 = 81
    //    fractions 0.125, 0.25 → std 0.0625 → 93.75 → 93
    assert_eq!(least_allocated(&nodes[2], &p), 81);
    assert_eq!(balanced_allocation(&nodes[2], &p), 93);

    // PodTopologySpread: no pods of the workload, no zones → raw 0*ln(5)+2 = 2 on each
    // node, max = min = 2 → 100*(2+2-2)/2 = 100, weighted 200 everywhere.
    // Totals: A 50+100+200 = 350, B 43+81+200 = 324, C 81+93+200 = 374 → C.
    for seed in 0..20 {
        let mut sched = KubeScheduler::new(SchedulerConfig::default(), seed);
        assert_eq!(schedule(&mut sched, &p, &nodes, &[true; 3]), Some(2));
        let totals: Vec<(usize, i64, i64)> = sched
            .last_scores()
            .iter()
            .map(|s| (s.node, s.pod_topology_spread, s.total))
            .collect();
        assert_eq!(totals, vec![(0, 100, 350), (1, 100, 324), (2, 100, 374)]);
    }
}

#[test]
fn pod_without_requests_scores_with_non_zero_defaults_and_fits_on_zero() {
    let alloc = res(1000, 1000 * MI);
    let nodes = vec![
        // A: empty
        node(alloc, &[]),
        // B: a pod requesting 500m and no memory: plain 500m / 0, non-zero 500m / 200Mi
        node(alloc, &[pod(500, 0)]),
        // C: fully requested (1000m / 1000Mi)
        node(alloc, &[pod(1000, 1000 * MI)]),
    ];
    let best_effort = pod(0, 0);
    assert_eq!(best_effort.score, res(100, 200 * MI));

    // A: cpu 100 → 900*100/1000 = 90, mem 200Mi → 800*100/1000 = 80 → 85
    assert_eq!(least_allocated(&nodes[0], &best_effort), 85);
    // B: cpu 500+100 → 400*100/1000 = 40, mem 200+200Mi → 600*100/1000 = 60 → 50
    assert_eq!(least_allocated(&nodes[1], &best_effort), 50);
    // C: cpu 1100 > 1000 → 0, mem 1200Mi > 1000Mi → 0 → 0
    assert_eq!(least_allocated(&nodes[2], &best_effort), 0);
    // BalancedAllocation skips a pod that requests nothing: 0 everywhere.
    for n in &nodes {
        assert_eq!(balanced_allocation(n, &best_effort), 0);
    }
    // BalancedAllocation counts plain requests: on B a 250m / 250Mi pod gives
    // cpu (500+250)/1000 = 0.75, mem (0+250)/1000 = 0.25 → std 0.25 → 75
    // (the non-zero 200Mi of B's pod would have given 85).
    assert_eq!(balanced_allocation(&nodes[1], &pod(250, 250 * MI)), 75);

    // Fit uses the zero requests: even the full node C is feasible.
    // Totals: A 85+0+200 = 285, B 50+0+200 = 250, C 0+0+200 = 200 → A.
    let mut sched = KubeScheduler::new(SchedulerConfig::default(), 7);
    assert_eq!(
        schedule(&mut sched, &best_effort, &nodes, &[true; 3]),
        Some(0)
    );
    let totals: Vec<i64> = sched.last_scores().iter().map(|s| s.total).collect();
    assert_eq!(totals, vec![285, 250, 200]);

    // A pod requesting 1m cpu does not fit C any more.
    let mut sched = KubeScheduler::new(SchedulerConfig::default(), 7);
    schedule(&mut sched, &pod(1, 0), &nodes, &[true; 3]);
    let scored: Vec<usize> = sched.last_scores().iter().map(|s| s.node).collect();
    assert_eq!(scored, vec![0, 1]);
}

#[test]
fn ties_are_broken_at_random_by_the_seed() {
    let nodes = vec![node(res(4000, 8 * GI), &[]), node(res(4000, 8 * GI), &[])];
    let p = pod(500, GI);
    let picks = |seed: u64| -> Vec<usize> {
        let mut sched = KubeScheduler::new(SchedulerConfig::default(), seed);
        (0..10)
            .filter_map(|_| schedule(&mut sched, &p, &nodes, &[true; 2]))
            .collect()
    };
    let mut chosen = BTreeSet::new();
    for seed in 0..64 {
        let first = picks(seed);
        assert_eq!(first, picks(seed), "same seed, same choices");
        chosen.extend(first);
    }
    assert_eq!(chosen, BTreeSet::from([0, 1]));
}

#[test]
fn nodes_failing_fit_or_eligibility_are_never_chosen() {
    let alloc = res(4000, 8 * GI);
    let p = pod(1000, GI);
    let mut full = node(alloc, &[pod(100, MI)]);
    full.max_pods = 1;
    let nodes = vec![
        // 0: cpu free 4000-3001 = 999m < 1000m
        node(alloc, &[pod(3001, 0)]),
        // 1: memory free 8Gi-(7Gi+1) < 1Gi
        node(alloc, &[pod(0, 7 * GI + 1)]),
        // 2: pod count 1 of 1
        full,
        // 3: empty but ineligible (taints / selector / affinity)
        node(alloc, &[]),
        // 4: exactly fits: free 1000m / 1Gi
        node(alloc, &[pod(3000, 7 * GI)]),
    ];
    let eligible = [true, true, true, false, true];
    for seed in 0..50 {
        let mut sched = KubeScheduler::new(SchedulerConfig::default(), seed);
        assert_eq!(schedule(&mut sched, &p, &nodes, &eligible), Some(4));
        // A single feasible node is taken without scoring.
        assert!(sched.last_scores().is_empty());
    }
    let mut sched = KubeScheduler::new(SchedulerConfig::default(), 0);
    let none_eligible = [true, true, true, false, false];
    assert_eq!(schedule(&mut sched, &p, &nodes, &none_eligible), None);
    assert_eq!(schedule(&mut sched, &p, &[], &[]), None);
}

#[test]
fn percentage_of_nodes_to_score_adaptive_default_and_minimum() {
    // < 100 nodes: all of them
    assert_eq!(num_feasible_nodes_to_find(None, 50), 50);
    // 100 nodes: 50 - 100/125 = 50 % → 50, below the minimum 100 → 100
    assert_eq!(num_feasible_nodes_to_find(None, 100), 100);
    // 200 nodes: 50 - 1 = 49 % → 98 → 100
    assert_eq!(num_feasible_nodes_to_find(None, 200), 100);
    // 1,000 nodes: 50 - 8 = 42 % → 420
    assert_eq!(num_feasible_nodes_to_find(None, 1000), 420);
    // 5,000 nodes: 50 - 40 = 10 % → 500
    assert_eq!(num_feasible_nodes_to_find(None, 5000), 500);
    // 6,000 nodes: 50 - 48 = 2 % → floor 5 % → 300
    assert_eq!(num_feasible_nodes_to_find(None, 6000), 300);
    // Explicit percentages; 0 means adaptive; never below 100 nodes.
    assert_eq!(num_feasible_nodes_to_find(Some(0), 1000), 420);
    assert_eq!(num_feasible_nodes_to_find(Some(50), 1000), 500);
    assert_eq!(num_feasible_nodes_to_find(Some(5), 1000), 100);
    assert_eq!(num_feasible_nodes_to_find(Some(100), 1000), 1000);
    assert_eq!(num_feasible_nodes_to_find(Some(250), 1000), 1000);
}

#[test]
fn sample_size_and_rotating_start_follow_the_source() {
    let nodes = vec![node(res(4000, 8 * GI), &[]); 1000];
    let p = pod(100, 100 * MI);
    let mut eligible = vec![true; 1000];

    // 1,000 feasible nodes: 420 scored per cycle, the start moves on by 420.
    let mut sched = KubeScheduler::new(SchedulerConfig::default(), 3);
    for expected_start in [420, 840, 260] {
        assert!(schedule(&mut sched, &p, &nodes, &eligible).is_some());
        assert_eq!(sched.last_scores().len(), 420);
        assert_eq!(sched.next_start_node_index(), expected_start);
    }
    // The first cycle scored nodes 0..420, the fourth starts at 260.
    schedule(&mut sched, &p, &nodes, &eligible);
    assert_eq!(sched.last_scores()[0].node, 260);

    // Failed nodes count as processed: 10 ineligible nodes at the start → 430.
    eligible[..10].fill(false);
    let mut sched = KubeScheduler::new(SchedulerConfig::default(), 3);
    schedule(&mut sched, &p, &nodes, &eligible);
    assert_eq!(sched.last_scores().len(), 420);
    assert_eq!(sched.last_scores()[0].node, 10);
    assert_eq!(sched.next_start_node_index(), 430);

    // An explicit 10 % of 1,000 is 100.
    let config = SchedulerConfig {
        percentage_of_nodes_to_score: Some(10),
    };
    let mut sched = KubeScheduler::new(config, 3);
    schedule(&mut sched, &p, &nodes, &eligible);
    assert_eq!(sched.last_scores().len(), 100);
    assert_eq!(sched.next_start_node_index(), 110);
}

/// An extender with a fixed answer that records what it was asked.
struct Recording {
    keep: Vec<usize>,
    score: Vec<(usize, u8)>,
    weight: i64,
    filtered: Vec<Vec<usize>>,
    prioritized: Vec<Vec<usize>>,
}

impl Recording {
    fn new(keep: Vec<usize>, score: Vec<(usize, u8)>, weight: i64) -> Self {
        Self {
            keep,
            score,
            weight,
            filtered: Vec::new(),
            prioritized: Vec::new(),
        }
    }
}

impl Extender for Recording {
    fn filter(&mut self, nodes: &[usize]) -> Vec<usize> {
        self.filtered.push(nodes.to_vec());
        self.keep.clone()
    }

    fn prioritize(&mut self, nodes: &[usize]) -> Vec<u8> {
        self.prioritized.push(nodes.to_vec());
        nodes
            .iter()
            .map(|n| {
                self.score
                    .iter()
                    .find(|(m, _)| m == n)
                    .map_or(0, |&(_, s)| s)
            })
            .collect()
    }

    fn weight(&self) -> i64 {
        self.weight
    }
}

fn schedule_with(
    sched: &mut KubeScheduler,
    p: &PodRequests,
    nodes: &[NodeState],
    ext: &mut Recording,
) -> Option<usize> {
    let eligible = vec![true; nodes.len()];
    sched.schedule(p, nodes, &eligible, &no_pods, &no_zone, Some(ext))
}

#[test]
fn extender_filter_intersects_the_feasible_nodes() {
    let nodes = three_nodes();
    let p = pod(1000, 2 * GI);
    // Keeps B and A (not C, the plugins' favourite); 7 is not a candidate and the
    // duplicate of A is dropped.
    let mut ext = Recording::new(vec![1, 0, 7, 0], vec![], 1);
    let mut sched = KubeScheduler::new(SchedulerConfig::default(), 1);
    // A 350 > B 324 (worked case above).
    assert_eq!(schedule_with(&mut sched, &p, &nodes, &mut ext), Some(0));
    assert_eq!(ext.filtered, vec![vec![0, 1, 2]]);
    assert_eq!(ext.prioritized, vec![vec![1, 0]]);

    // The extender filters out everything → unschedulable.
    let mut ext = Recording::new(vec![], vec![], 1);
    assert_eq!(schedule_with(&mut sched, &p, &nodes, &mut ext), None);

    // One survivor is taken without asking the extender to prioritize.
    let mut ext = Recording::new(vec![1], vec![(1, 0)], 1);
    assert_eq!(schedule_with(&mut sched, &p, &nodes, &mut ext), Some(1));
    assert!(ext.prioritized.is_empty());
}

#[test]
fn extender_score_times_weight_times_ten_can_flip_the_choice() {
    let nodes = three_nodes();
    let p = pod(1000, 2 * GI);
    let all = vec![0, 1, 2];
    let pick = |score: u8, weight: i64, seed: u64| {
        let mut ext = Recording::new(all.clone(), vec![(1, score)], weight);
        let mut sched = KubeScheduler::new(SchedulerConfig::default(), seed);
        schedule_with(&mut sched, &p, &nodes, &mut ext)
    };
    // Plugins: C 374, B 324 (a gap of 50).
    // B scored 4 × weight 1 × 10 = 40 → 364 < 374 → C
    assert_eq!(pick(4, 1, 0), Some(2));
    // B scored 6 × 1 × 10 = 60 → 384 > 374 → B
    assert_eq!(pick(6, 1, 0), Some(1));
    // B scored 3 × 2 × 10 = 60 → 384 → B
    assert_eq!(pick(3, 2, 0), Some(1));
    // B scored 5 × 1 × 10 = 50 → 374, a tie with C → either, by seed
    let chosen: BTreeSet<_> = (0..64).filter_map(|seed| pick(5, 1, seed)).collect();
    assert_eq!(chosen, BTreeSet::from([1, 2]));

    let mut ext = Recording::new(all.clone(), vec![(1, 6)], 1);
    let mut sched = KubeScheduler::new(SchedulerConfig::default(), 0);
    schedule_with(&mut sched, &p, &nodes, &mut ext);
    let extender: Vec<i64> = sched.last_scores().iter().map(|s| s.extender).collect();
    assert_eq!(extender, vec![0, 60, 0]);
}

#[test]
fn extender_sees_only_the_sampled_feasible_nodes() {
    let nodes = vec![node(res(4000, 8 * GI), &[]); 1000];
    let mut ext = Recording::new((0..1000).collect(), vec![], 1);
    let mut sched = KubeScheduler::new(SchedulerConfig::default(), 0);
    schedule_with(&mut sched, &pod(100, MI), &nodes, &mut ext);
    assert_eq!(ext.filtered[0].len(), 420);
    assert_eq!(ext.prioritized[0].len(), 420);
}

#[test]
fn topology_spread_prefers_the_node_with_fewer_pods_of_the_workload() {
    // Same resources on both: A holds one pod of the workload, B one pod of another.
    let nodes = vec![
        node(res(4000, 8 * GI), &[pod(500, GI)]),
        node(res(4000, 8 * GI), &[pod(500, GI)]),
    ];
    let same_workload = |n: usize| u32::from(n == 0);
    let p = pod(500, GI);
    // Hostname constraint, 2 scored nodes: weight ln(2+2) = 1.386
    // A: round(1 × 1.386 + (3-1)) = round(3.386) = 3; B: round(0 + 2) = 2
    // Normalized with min 2, max 3: A 100×(3+2-3)/3 = 66, B 100×(3+2-2)/3 = 100
    // Weighted ×2: A 132, B 200; resources tie → B.
    for seed in 0..50 {
        let mut sched = KubeScheduler::new(SchedulerConfig::default(), seed);
        let chosen = sched.schedule(&p, &nodes, &[true; 2], &same_workload, &no_zone, None);
        assert_eq!(chosen, Some(1));
        let spread: Vec<i64> = sched
            .last_scores()
            .iter()
            .map(|s| s.pod_topology_spread)
            .collect();
        assert_eq!(spread, vec![66, 100]);
        let s = sched.last_scores();
        assert_eq!(s[0].total - s[1].total, 132 - 200);
    }
}

#[test]
fn topology_spread_counts_a_zones_pods_on_nodes_outside_the_sample() {
    let alloc = res(4000, 8 * GI);
    let mut full = node(alloc, &[pod(100, MI), pod(100, MI)]);
    full.max_pods = 2;
    // 0: zone a, empty; 1: zone b, empty; 2: zone b, two pods of the workload, no
    // free pod slot (infeasible, but it still counts for zone b).
    let nodes = vec![node(alloc, &[]), node(alloc, &[]), full];
    let zones = ["a", "b", "b"];
    let zone = |n: usize| Some(zones[n]);
    let same_workload = |n: usize| if n == 2 { 2 } else { 0 };
    let p = pod(500, GI);
    // Scored nodes 0 and 1: hostname weight ln(4) = 1.386, zone domains {a, b} → ln(4).
    // 0: 0×1.386 + 2 + 0×1.386 + 4 = 6
    // 1: 0×1.386 + 2 + 2×1.386 + 4 = 8.773 → 9
    // Normalized with min 6, max 9: 0 → 100×(9+6-6)/9 = 100, 1 → 100×(15-9)/9 = 66
    for seed in 0..50 {
        let mut sched = KubeScheduler::new(SchedulerConfig::default(), seed);
        let chosen = sched.schedule(&p, &nodes, &[true; 3], &same_workload, &zone, None);
        assert_eq!(chosen, Some(0));
        let spread: Vec<(usize, i64)> = sched
            .last_scores()
            .iter()
            .map(|s| (s.node, s.pod_topology_spread))
            .collect();
        assert_eq!(spread, vec![(0, 100), (1, 66)]);
    }
    // If node 2 does not match the pod's node affinity its pods are not counted
    // (nodeAffinityPolicy: Honor): both raw 6, a tie broken by the seed.
    let chosen: BTreeSet<_> = (0..64)
        .filter_map(|seed| {
            let mut sched = KubeScheduler::new(SchedulerConfig::default(), seed);
            sched.schedule(
                &p,
                &nodes,
                &[true, true, false],
                &same_workload,
                &zone,
                None,
            )
        })
        .collect();
    assert_eq!(chosen, BTreeSet::from([0, 1]));
}
