//! Properties of the plan over random clusters: guards, limits and budgets hold,
//! every eviction has a destination the scheduler and the extender would accept and
//! that stays at or below target, and the plan does not depend on input order.

mod common;

use std::collections::BTreeMap;

use common::{Case, arb_case, scorer};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use tidal_core::estimate::Estimate;
use tidal_core::fit::{is_ready, pod_fits_node};
use tidal_core::load::Capacity;
use tidal_core::resources::Resources;
use tidal_core::scoring::NodeView;
use tidal_descheduler::model::{ClusterSnapshot, Owner, PodKey, PodState};
use tidal_descheduler::plan::{NodeClass, Plan, SkipReason, plan, selects};
use tidal_descheduler::policy::{Fractions, ThresholdMode};

const EPS: f64 = 1e-9;

fn run(case: &Case) -> Plan {
    plan(&case.snapshot, &case.policy, &scorer(), &case.cooldowns)
}

fn pod<'a>(s: &'a ClusterSnapshot, key: &PodKey) -> &'a PodState {
    s.pods
        .iter()
        .find(|p| &p.key == key)
        .unwrap_or_else(|| panic!("planned pod {key} is not in the snapshot"))
}

fn count<K: Ord>(keys: impl Iterator<Item = K>) -> BTreeMap<K, u32> {
    let mut m = BTreeMap::new();
    for k in keys {
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

/// Each evicted pod passes every fixed guard, checked here independently of the planner.
fn guards_hold(case: &Case, plan: &Plan) -> Result<(), TestCaseError> {
    let (s, p) = (&case.snapshot, &case.policy);
    for e in &plan.evictions {
        let pod = pod(s, &e.pod);
        let Owner::Workload(w) = &pod.owner else {
            return Err(TestCaseError::fail(format!(
                "{} has owner {:?}",
                e.pod, pod.owner
            )));
        };
        prop_assert!(pod.priority < p.protected_priority);
        let annotations = &pod.pod.annotations;
        prop_assert!(annotations.get(&p.opt_out_annotation).map(String::as_str) != Some("true"));
        prop_assert!(p.allow_local_storage || pod.pod.local_volume.is_none());
        prop_assert!(s.now.duration_since(pod.created_at).unwrap_or_default() >= p.min_pod_age);
        if let Some(last) = case.cooldowns.get(w) {
            prop_assert!(s.now.duration_since(*last).unwrap_or_default() >= p.cooldown);
        }
        let replicas = s.workloads[w];
        prop_assert!(p.allow_single_replica || replicas.desired > 1);
        prop_assert!(pod.usage == Some(e.usage));
        prop_assert_eq!(e.workload.as_ref(), Some(w));
    }
    Ok(())
}

/// Limits, availability floor and budgets are never overspent.
fn budgets_hold(case: &Case, plan: &Plan) -> Result<(), TestCaseError> {
    let (s, p) = (&case.snapshot, &case.policy);
    let l = p.limits;
    prop_assert!(plan.evictions.len() <= l.total as usize);
    prop_assert!(
        count(plan.evictions.iter().map(|e| &e.from))
            .values()
            .all(|&n| n <= l.per_node)
    );
    prop_assert!(
        count(plan.evictions.iter().map(|e| &e.pod.namespace))
            .values()
            .all(|&n| n <= l.per_namespace)
    );
    for (w, n) in count(plan.evictions.iter().filter_map(|e| e.workload.as_ref())) {
        prop_assert!(n <= l.per_workload);
        let r = s.workloads[w];
        prop_assert!(
            f64::from(r.ready) - f64::from(n) >= p.availability_floor * f64::from(r.desired) - EPS
        );
    }
    for b in &s.budgets {
        let covered = plan.evictions.iter().filter(|e| {
            let labels = &pod(s, &e.pod).pod.labels;
            e.pod.namespace == b.namespace
                && b.selector.as_ref().is_some_and(|sel| selects(sel, labels))
        });
        prop_assert!(covered.count() as i64 <= i64::from(b.disruptions_allowed.max(0)));
    }
    for e in &plan.evictions {
        let labels = &pod(s, &e.pod).pod.labels;
        let matching = s.budgets.iter().filter(|b| {
            b.namespace == e.pod.namespace
                && b.selector.as_ref().is_some_and(|sel| selects(sel, labels))
        });
        prop_assert!(matching.count() <= 1);
    }
    Ok(())
}

/// Replays the evictions in order: each destination was Cold, takes the pod by the
/// scheduler's checks and by the scorer, and ends at or below target.
fn destinations_hold(case: &Case, plan: &Plan) -> Result<(), TestCaseError> {
    let s = &case.snapshot;
    let outcome = |name: &str| plan.nodes.iter().find(|n| n.name == name);
    let mut requested: BTreeMap<&str, Resources> = BTreeMap::new();
    for p in &s.pods {
        *requested.entry(p.node.as_str()).or_default() += p.requests;
    }
    let mut pending: BTreeMap<&str, Estimate> = BTreeMap::new();
    for e in &plan.evictions {
        prop_assert_ne!(&e.from, &e.to);
        prop_assert_eq!(outcome(&e.from).map(|n| n.class), Some(NodeClass::Hot));
        prop_assert_eq!(outcome(&e.to).map(|n| n.class), Some(NodeClass::Cold));
        let dest = s
            .nodes
            .iter()
            .find(|n| n.name == e.to)
            .ok_or_else(|| TestCaseError::fail("no dest"))?;
        let pod = pod(s, &e.pod);
        let already = requested.get(e.to.as_str()).copied().unwrap_or_default();
        prop_assert!(pod_fits_node(pod, dest, already).is_ok());
        let incoming = Estimate {
            cpu_cores: e.usage.cpu_cores,
            memory_bytes: e.usage.memory_bytes,
        };
        let view = NodeView {
            load: dest.recent.as_ref(),
            allocatable: Some(Capacity::from_resources(dest.allocatable)),
            pending: pending.get(e.to.as_str()).copied().unwrap_or_default(),
        };
        prop_assert!(scorer().evaluate(s.now, view, incoming).fits);
        *requested.entry(e.to.as_str()).or_default() += pod.requests;
        *pending.entry(e.to.as_str()).or_default() += incoming;
    }
    let target = bounds(case).1;
    for name in plan.evictions.iter().map(|e| &e.to) {
        let after = outcome(name)
            .and_then(|n| n.after)
            .ok_or_else(|| TestCaseError::fail("no after"))?;
        prop_assert!(after.cpu <= target.cpu + EPS && after.memory <= target.memory + EPS);
    }
    Ok(())
}

fn fractions(n: &tidal_descheduler::model::NodeState, case: &Case) -> Option<Fractions> {
    let s = n.sustained.as_ref()?;
    let fresh = case
        .snapshot
        .now
        .duration_since(s.sampled_at)
        .unwrap_or_default()
        <= scorer().max_age;
    let c = Capacity::from_resources(n.allocatable);
    (fresh && is_ready(n)).then(|| Fractions {
        cpu: s.cpu_cores / c.cpu_cores,
        memory: s.memory_bytes / c.memory_bytes,
    })
}

/// (hot, target, cold) in force, computed the test's own way.
fn bounds(case: &Case) -> (Fractions, Fractions, Fractions) {
    let c = &case.policy.classification;
    if c.mode == ThresholdMode::Absolute {
        return (c.hot, c.target, c.cold);
    }
    let measured: Vec<Fractions> = case
        .snapshot
        .nodes
        .iter()
        .filter_map(|n| fractions(n, case))
        .collect();
    let n = measured.len().max(1) as f64;
    let avg = Fractions {
        cpu: measured.iter().map(|f| f.cpu).sum::<f64>() / n,
        memory: measured.iter().map(|f| f.memory).sum::<f64>() / n,
    };
    let at = |sign: f64, d: Fractions| Fractions {
        cpu: avg.cpu + sign * d.cpu,
        memory: avg.memory + sign * d.memory,
    };
    (at(1.0, c.hot), at(1.0, c.target), at(-1.0, c.cold))
}

/// Classes match the rules, nodes without metrics are untouched, and no node ends
/// hotter than the hottest node started.
fn outcomes_hold(case: &Case, plan: &Plan) -> Result<(), TestCaseError> {
    let (hot, _, cold) = bounds(case);
    prop_assert_eq!(plan.nodes.len(), case.snapshot.nodes.len());
    let peak = |f: Fractions| f.cpu.max(f.memory);
    let hottest = plan
        .nodes
        .iter()
        .filter_map(|n| n.before)
        .map(peak)
        .fold(f64::MIN, f64::max);
    for n in &case.snapshot.nodes {
        let o = plan
            .nodes
            .iter()
            .find(|o| o.name == n.name)
            .ok_or_else(|| TestCaseError::fail("missing node"))?;
        let f = fractions(n, case);
        let schedulable = !n
            .node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        let class = match f {
            None => NodeClass::NoMetrics,
            Some(f) if f.cpu > hot.cpu || f.memory > hot.memory => NodeClass::Hot,
            Some(f) if schedulable && f.cpu < cold.cpu && f.memory < cold.memory => NodeClass::Cold,
            Some(_) => NodeClass::Normal,
        };
        prop_assert_eq!(o.class, class, "node {}", n.name);
        prop_assert_eq!(o.after.is_some(), f.is_some());
        if let Some(after) = o.after {
            prop_assert!(peak(after) <= hottest + EPS);
        }
    }
    for s in &plan.skipped {
        let class = plan
            .nodes
            .iter()
            .find(|o| o.name == s.node)
            .map(|o| o.class);
        prop_assert_eq!(
            class,
            Some(NodeClass::Hot),
            "skipped {} not on a hot node",
            s.pod
        );
    }
    Ok(())
}

/// A stable shuffle from a seed, so a failing case replays.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        items.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn plans_keep_every_guard_and_budget(case in arb_case()) {
        let plan = run(&case);
        guards_hold(&case, &plan)?;
        budgets_hold(&case, &plan)?;
        destinations_hold(&case, &plan)?;
        outcomes_hold(&case, &plan)?;
    }

    #[test]
    fn plans_do_not_depend_on_input_order(case in arb_case(), seed in any::<u64>()) {
        let mut shuffled = case.clone();
        shuffle(&mut shuffled.snapshot.nodes, seed);
        shuffle(&mut shuffled.snapshot.pods, seed ^ 1);
        shuffle(&mut shuffled.snapshot.budgets, seed ^ 2);
        prop_assert_eq!(run(&case), run(&shuffled));
    }

    /// Run again on the cluster as planned, nothing moved goes back (absolute mode:
    /// in deviation mode the moves shift the average the thresholds hang on).
    #[test]
    fn a_second_run_moves_nothing_back(case in arb_case()) {
        prop_assume!(case.policy.classification.mode == ThresholdMode::Absolute);
        let first = run(&case);
        let next = Case { snapshot: common::apply(&case.snapshot, &first), ..case.clone() };
        let second = run(&next);
        for e in &first.evictions {
            prop_assert!(second.evictions.iter().all(|again| again.pod != e.pod), "{} moved twice", e.pod);
            let class = second.nodes.iter().find(|n| n.name == e.to).map(|n| n.class);
            prop_assert_ne!(class, Some(NodeClass::Hot), "destination {} became hot", e.to);
        }
    }

    #[test]
    fn pods_of_unknown_usage_are_never_evicted(case in arb_case()) {
        let plan = run(&case);
        for e in &plan.evictions {
            prop_assert!(pod(&case.snapshot, &e.pod).usage.is_some());
        }
        for s in plan.skipped.iter().filter(|s| s.reason == SkipReason::UsageUnknown) {
            prop_assert!(pod(&case.snapshot, &s.pod).usage.is_none());
        }
    }
}

fn kind(reason: &SkipReason) -> &'static str {
    match reason {
        SkipReason::DaemonSet { .. } => "DaemonSet",
        SkipReason::Mirror => "Mirror",
        SkipReason::Bare => "Bare",
        SkipReason::Protected { .. } => "Protected",
        SkipReason::OptedOut { .. } => "OptedOut",
        SkipReason::LocalStorage { .. } => "LocalStorage",
        SkipReason::TooYoung { .. } => "TooYoung",
        SkipReason::Cooldown { .. } => "Cooldown",
        SkipReason::SingleReplica { .. } => "SingleReplica",
        SkipReason::ReplicasUnknown { .. } => "ReplicasUnknown",
        SkipReason::AvailabilityFloor { .. } => "AvailabilityFloor",
        SkipReason::SeveralBudgets { .. } => "SeveralBudgets",
        SkipReason::BudgetExhausted { .. } => "BudgetExhausted",
        SkipReason::UsageUnknown => "UsageUnknown",
        SkipReason::PerNodeLimit { .. } => "PerNodeLimit",
        SkipReason::PerNamespaceLimit { .. } => "PerNamespaceLimit",
        SkipReason::PerWorkloadLimit { .. } => "PerWorkloadLimit",
        SkipReason::TotalLimit { .. } => "TotalLimit",
        SkipReason::NoDestination { .. } => "NoDestination",
    }
}

/// The properties above are not vacuous: the random clusters plan evictions and
/// trip every guard and limit (but unknown replicas: every random workload has counts).
#[test]
fn random_clusters_exercise_every_guard() {
    let mut runner = TestRunner::deterministic();
    let (mut planned, mut seen) = (0, std::collections::BTreeSet::new());
    for _ in 0..300 {
        let case = arb_case()
            .new_tree(&mut runner)
            .unwrap_or_else(|e| panic!("strategy should generate: {e}"))
            .current();
        let plan = run(&case);
        planned += usize::from(!plan.evictions.is_empty());
        seen.extend(plan.skipped.iter().map(|s| kind(&s.reason)));
    }
    assert!(
        planned >= 60,
        "only {planned} of 300 clusters planned an eviction"
    );
    assert_eq!(seen.len(), 18, "guards tripped: {seen:?}");
}
