//! Hand-made clusters for the behaviours the issue names: relief with the fewest
//! evictions, no ping-pong, single replicas, budgets, pods that fit nowhere, and
//! nodes without metrics.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{apply, budget, node, node_with, now, pod, pod_with, policy, scorer, snapshot};
use serde_json::json;
use tidal_descheduler::model::{ClusterSnapshot, Replicas};
use tidal_descheduler::plan::{NodeClass, Plan, SkipReason, plan};
use tidal_descheduler::policy::Policy;

fn run(s: &ClusterSnapshot, p: &Policy) -> Plan {
    plan(s, p, &scorer(), &BTreeMap::new())
}

fn evicted(plan: &Plan) -> Vec<String> {
    plan.evictions.iter().map(|e| e.pod.to_string()).collect()
}

fn skipped<'a>(plan: &'a Plan, key: &str) -> Option<&'a SkipReason> {
    plan.skipped
        .iter()
        .find(|s| s.pod.to_string() == key)
        .map(|s| &s.reason)
}

fn class(plan: &Plan, name: &str) -> Option<NodeClass> {
    plan.nodes.iter().find(|n| n.name == name).map(|n| n.class)
}

/// 4 cores at 95% must shed 1 core to reach the 70% target: the one pod of 1.1 cores
/// does it alone, so neither the largest pod nor several small ones go.
#[test]
fn hot_node_is_relieved_to_target_with_the_fewest_evictions() {
    let s = snapshot(
        vec![node("hot", 4, 16, 0.95, 0.3), node("cold", 8, 16, 0.1, 0.1)],
        vec![
            pod("shop/a", "hot", "a", (100, 64), (0.3, 64.0)),
            pod("shop/b", "hot", "b", (100, 64), (1.1, 64.0)),
            pod("shop/c", "hot", "c", (100, 64), (0.6, 64.0)),
            pod("shop/d", "hot", "d", (100, 64), (1.6, 64.0)),
        ],
        3,
    );
    let plan = run(&s, &policy());
    assert_eq!(evicted(&plan), ["shop/b"]);
    assert_eq!(plan.evictions[0].to, "cold");
    assert!(plan.evictions[0].reason.contains("cpu 95% > 80%"));
    let hot = &plan.nodes[1];
    assert_eq!((hot.name.as_str(), hot.class), ("hot", NodeClass::Hot));
    assert!(hot.after.is_some_and(|f| f.cpu <= 0.70 && f.cpu > 0.65));
    assert!(plan.skipped.is_empty());
}

/// Lower priority goes first even when a higher-priority pod would match the excess better.
#[test]
fn lower_priority_pods_go_first() {
    let mut important = pod("shop/important", "hot", "x", (100, 64), (1.1, 64.0));
    important.priority = 1000;
    let s = snapshot(
        vec![node("hot", 4, 16, 0.95, 0.3), node("cold", 8, 16, 0.1, 0.1)],
        vec![
            important,
            pod("shop/small", "hot", "y", (100, 64), (0.6, 64.0)),
            pod("shop/tiny", "hot", "z", (100, 64), (0.5, 64.0)),
        ],
        3,
    );
    assert_eq!(evicted(&run(&s, &policy())), ["shop/small", "shop/tiny"]);
}

/// Two 2Gi pods leave a node hot on memory. `warm` scores best for both, and the
/// scorer (memory average <= 80%) would take both, but with both it would pass the
/// 75% target and be hot next run: the second goes to `roomy`. After the moves
/// nothing is hot, and a second run on the projected cluster moves nothing back.
#[test]
fn no_ping_pong() {
    let s = snapshot(
        vec![
            node("hot", 4, 16, 0.3, 0.95),
            node("warm", 4, 16, 0.1, 0.55),
            node("roomy", 4, 16, 0.3, 0.58),
        ],
        vec![
            pod("shop/a", "hot", "a", (100, 64), (0.1, 2048.0)),
            pod("shop/b", "hot", "b", (100, 64), (0.1, 2048.0)),
        ],
        3,
    );
    let first = run(&s, &policy());
    assert_eq!(evicted(&first), ["shop/a", "shop/b"]);
    let destinations: Vec<&str> = first.evictions.iter().map(|e| e.to.as_str()).collect();
    assert_eq!(destinations, ["warm", "roomy"]);
    for outcome in &first.nodes {
        let after = outcome
            .after
            .unwrap_or_else(|| panic!("{} has metrics", outcome.name));
        assert!(
            after.cpu <= 0.70 && after.memory <= 0.75,
            "{} ends at {after:?}",
            outcome.name
        );
    }
    let second = run(&apply(&s, &first), &policy());
    assert_eq!(evicted(&second), Vec::<String>::new());
    assert!(second.nodes.iter().all(|n| n.class != NodeClass::Hot));
}

#[test]
fn single_replica_workloads_are_refused_unless_allowed() {
    let s = snapshot(
        vec![node("hot", 4, 16, 0.95, 0.3), node("cold", 8, 16, 0.1, 0.1)],
        vec![pod("shop/solo", "hot", "solo", (100, 64), (1.1, 64.0))],
        1,
    );
    let plan = run(&s, &policy());
    assert!(plan.evictions.is_empty());
    assert_eq!(
        skipped(&plan, "shop/solo"),
        Some(&SkipReason::SingleReplica { desired: 1 })
    );
    let allowed = Policy {
        allow_single_replica: true,
        availability_floor: 0.0,
        ..policy()
    };
    assert_eq!(evicted(&run(&s, &allowed)), ["shop/solo"]);
}

/// Three pods of one workload would each help; its budget allows one disruption.
#[test]
fn a_workload_at_its_budget_keeps_it() {
    let mut s = snapshot(
        vec![node("hot", 4, 16, 1.0, 0.3), node("cold", 16, 64, 0.1, 0.1)],
        vec![
            pod("shop/web-1", "hot", "web", (100, 64), (0.4, 64.0)),
            pod("shop/web-2", "hot", "web", (100, 64), (0.4, 64.0)),
            pod("shop/web-3", "hot", "web", (100, 64), (0.4, 64.0)),
        ],
        8,
    );
    s.budgets = vec![budget(
        "shop",
        "web",
        Some(json!({"matchLabels": {"app": "web"}})),
        1,
    )];
    let plan = run(&s, &policy());
    assert_eq!(plan.evictions.len(), 1);
    let exhausted = SkipReason::BudgetExhausted {
        budget: "shop/web".to_string(),
        allowed: 1,
    };
    assert_eq!(skipped(&plan, "shop/web-2"), Some(&exhausted));
    assert_eq!(skipped(&plan, "shop/web-3"), Some(&exhausted));

    // A second budget over the same pods: the Eviction API would answer 500.
    s.budgets.push(budget(
        "shop",
        "all",
        Some(json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]})),
        5,
    ));
    let plan = run(&s, &policy());
    assert!(plan.evictions.is_empty());
    assert!(
        matches!(skipped(&plan, "shop/web-1"), Some(SkipReason::SeveralBudgets { names }) if names == &["all", "web"])
    );
}

#[test]
fn availability_floor_counts_planned_evictions() {
    let mut s = snapshot(
        vec![node("hot", 4, 16, 1.0, 0.3), node("cold", 16, 64, 0.1, 0.1)],
        vec![
            pod("shop/web-1", "hot", "web", (100, 64), (0.4, 64.0)),
            pod("shop/web-2", "hot", "web", (100, 64), (0.4, 64.0)),
        ],
        4,
    );
    let web = common::deployment("shop", "web");
    s.workloads.insert(
        web,
        Replicas {
            desired: 4,
            ready: 3,
        },
    );
    // (3 - 0 - 1) / 4 = 0.5 passes the floor; (3 - 1 - 1) / 4 = 0.25 does not.
    let plan = run(&s, &policy());
    assert_eq!(evicted(&plan), ["shop/web-1"]);
    assert!(matches!(
        skipped(&plan, "shop/web-2"),
        Some(SkipReason::AvailabilityFloor { planned: 1, .. })
    ));
}

/// The only cold node is tainted, or too small for the pod's requests.
#[test]
fn pods_that_fit_nowhere_have_no_destination() {
    let tainted = json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]});
    let s = snapshot(
        vec![
            node("hot", 4, 16, 0.95, 0.3),
            node_with("gpu", 8, 16, 0.1, 0.1, tainted),
        ],
        vec![pod("shop/a", "hot", "a", (100, 64), (1.1, 64.0))],
        3,
    );
    let plan = run(&s, &policy());
    assert!(plan.evictions.is_empty());
    let reason = skipped(&plan, "shop/a")
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        reason.contains("gpu: node has taint dedicated=gpu:NoSchedule"),
        "{reason}"
    );

    let s = snapshot(
        vec![node("hot", 4, 16, 0.95, 0.3), node("small", 2, 4, 0.1, 0.1)],
        vec![pod("shop/a", "hot", "a", (3000, 64), (1.1, 64.0))],
        3,
    );
    let reason = skipped(&run(&s, &policy()), "shop/a")
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        reason.starts_with("no destination: small: needs 3 cpu"),
        "{reason}"
    );

    // No cold node at all.
    let s = snapshot(
        vec![node("hot", 4, 16, 0.95, 0.3), node("busy", 4, 16, 0.6, 0.3)],
        vec![pod("shop/a", "hot", "a", (100, 64), (1.1, 64.0))],
        3,
    );
    let reason = skipped(&run(&s, &policy()), "shop/a").map(ToString::to_string);
    assert_eq!(reason.as_deref(), Some("no destination: no cold node"));
}

/// A node without sustained load is neither relieved nor filled, however it looks;
/// stale load counts as none.
#[test]
fn nodes_without_metrics_are_left_alone() {
    let mut dark = node("dark", 4, 16, 0.99, 0.99);
    dark.sustained = None;
    let mut stale = node("stale", 16, 64, 0.05, 0.05);
    if let Some(s) = &mut stale.sustained {
        s.sampled_at = now() - Duration::from_secs(3600);
    }
    let s = snapshot(
        vec![dark, stale, node("hot", 4, 16, 0.95, 0.3)],
        vec![
            pod("shop/dark-pod", "dark", "a", (100, 64), (2.0, 64.0)),
            pod("shop/hot-pod", "hot", "b", (100, 64), (1.1, 64.0)),
        ],
        3,
    );
    let plan = run(&s, &policy());
    assert!(plan.evictions.is_empty());
    assert_eq!(skipped(&plan, "shop/dark-pod"), None);
    assert!(matches!(
        skipped(&plan, "shop/hot-pod"),
        Some(SkipReason::NoDestination { .. })
    ));
    for name in ["dark", "stale"] {
        assert_eq!(class(&plan, name), Some(NodeClass::NoMetrics));
        let outcome = plan.nodes.iter().find(|n| n.name == name);
        assert!(outcome.is_some_and(|n| n.before.is_none() && n.after.is_none()));
    }
}

#[test]
fn fixed_guards_are_reported_for_pods_on_hot_nodes() {
    let mut young = pod("shop/young", "hot", "a", (100, 64), (0.5, 64.0));
    young.created_at = now() - Duration::from_secs(60);
    let local = pod_with(
        "shop/local",
        "hot",
        "b",
        (100, 64),
        Some((0.5, 64.0)),
        json!({"volumes": [{"name": "cache", "emptyDir": {}}]}),
        json!({}),
    );
    let opted = pod_with(
        "shop/opted",
        "hot",
        "c",
        (100, 64),
        Some((0.5, 64.0)),
        json!({}),
        json!({"tidal.io/no-evict": "true"}),
    );
    let unknown = pod_with(
        "shop/unknown",
        "hot",
        "d",
        (100, 64),
        None,
        json!({}),
        json!({}),
    );
    let cooling = pod("shop/cooling", "hot", "e", (100, 64), (0.5, 64.0));
    let orphan = pod("shop/orphan", "hot", "f", (100, 64), (0.5, 64.0));
    let mut s = snapshot(
        vec![node("hot", 4, 16, 0.95, 0.3), node("cold", 8, 16, 0.1, 0.1)],
        vec![young, local, opted, unknown, cooling, orphan],
        3,
    );
    s.workloads.remove(&common::deployment("shop", "f"));
    let cooldowns = BTreeMap::from([(
        common::deployment("shop", "e"),
        now() - Duration::from_secs(600),
    )]);
    let plan = plan(&s, &policy(), &scorer(), &cooldowns);
    assert!(plan.evictions.is_empty());
    assert!(matches!(
        skipped(&plan, "shop/young"),
        Some(SkipReason::TooYoung { .. })
    ));
    assert!(
        matches!(skipped(&plan, "shop/local"), Some(SkipReason::LocalStorage { volume }) if volume == "cache")
    );
    assert!(matches!(
        skipped(&plan, "shop/opted"),
        Some(SkipReason::OptedOut { .. })
    ));
    assert_eq!(
        skipped(&plan, "shop/unknown"),
        Some(&SkipReason::UsageUnknown)
    );
    let cooling = skipped(&plan, "shop/cooling").map(ToString::to_string);
    assert_eq!(
        cooling.as_deref(),
        Some("Deployment shop/e cooling down for 1200s")
    );
}
